"""Your sinusoidal_positions puts all sines in the first half and all cosines in the second; they alternate (PE[p, 2i] = sin, PE[p, 2i+1] = cos).

zh: 你的 sinusoidal_positions 把所有 sin 放在前一半、cos 放在后一半；应当交替排列（偶数列 sin，奇数列 cos）。
catches: sinusoidal_reference, sinusoidal_properties
"""
import torch


def sinusoidal_positions(L: int, D: int, base: float = 10000.0) -> torch.Tensor:
    if D % 2 or D < 0 or L < 0:
        raise ValueError(f"need L >= 0 and an even D >= 0, got L={L}, D={D}")
    inv_freq = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    angles = torch.arange(L, dtype=torch.float64).unsqueeze(1) * inv_freq
    pe = torch.cat([angles.sin(), angles.cos()], dim=-1)
    return pe.to(torch.get_default_dtype())
