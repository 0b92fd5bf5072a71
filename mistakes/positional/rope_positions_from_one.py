"""Your apply_rope numbers positions 1..L by default; they start at 0 (position 0 is left unrotated).

zh: 你的 apply_rope 默认位置从 1 开始；位置应为 0..L-1（位置 0 不旋转）。
catches: rope_reference, rope_properties
"""
import torch


def apply_rope(x: torch.Tensor, positions: torch.Tensor | None = None,
               base: float = 10000.0) -> torch.Tensor:
    L, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise ValueError(f"the last dim of x must be even, got {d}")
    if positions is None:
        positions = torch.arange(1, L + 1)
    if positions.shape != (L,):
        raise ValueError(f"positions must have shape ({L},), got {tuple(positions.shape)}")
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = positions.to(torch.float64).unsqueeze(1) * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    rotated = torch.cat([-x[..., d // 2:], x[..., :d // 2]], dim=-1)
    return x * cos + rotated * sin
