"""Your sinusoidal_positions puts cos in the even columns and sin in the odd ones; even columns hold sin.

zh: 你的 sinusoidal_positions 把 cos 放在偶数列、sin 放在奇数列；偶数列应为 sin。
catches: sinusoidal_reference, sinusoidal_properties
"""
import torch


def sinusoidal_positions(L: int, D: int, base: float = 10000.0) -> torch.Tensor:
    if D % 2 or D < 0 or L < 0:
        raise ValueError(f"need L >= 0 and an even D >= 0, got L={L}, D={D}")
    inv_freq = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    angles = torch.arange(L, dtype=torch.float64).unsqueeze(1) * inv_freq
    pe = torch.stack([angles.cos(), angles.sin()], dim=-1).view(L, D)
    return pe.to(torch.get_default_dtype())
