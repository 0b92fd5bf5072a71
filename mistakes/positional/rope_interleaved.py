"""Your apply_rope rotates neighbouring pairs (2i, 2i+1); the Llama layout pairs feature j with j + d/2 (rotate_half).

zh: 你的 apply_rope 旋转的是相邻两维 (2i, 2i+1)；Llama 的布局是第 j 维与第 j + d/2 维配对（rotate_half）。
catches: rope_reference, rope_properties
"""
import torch


def apply_rope(x: torch.Tensor, positions: torch.Tensor | None = None,
               base: float = 10000.0) -> torch.Tensor:
    L, d = x.shape[-2], x.shape[-1]
    if d % 2:
        raise ValueError(f"the last dim of x must be even, got {d}")
    if positions is None:
        positions = torch.arange(L)
    if positions.shape != (L,):
        raise ValueError(f"positions must have shape ({L},), got {tuple(positions.shape)}")
    inv_freq = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = positions.to(torch.float64).unsqueeze(1) * inv_freq
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.flatten(-2)
