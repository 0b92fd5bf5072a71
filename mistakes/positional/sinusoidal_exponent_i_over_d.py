"""Your sinusoidal_positions uses base^(i/D) for pair i; the exponent is 2i/D.

zh: 你的 sinusoidal_positions 对第 i 对使用了 base^(i/D)；指数应为 2i/D。
catches: sinusoidal_reference, sinusoidal_properties
"""
import torch


def sinusoidal_positions(L: int, D: int, base: float = 10000.0) -> torch.Tensor:
    if D % 2 or D < 0 or L < 0:
        raise ValueError(f"need L >= 0 and an even D >= 0, got L={L}, D={D}")
    inv_freq = base ** (-torch.arange(0, D // 2, dtype=torch.float64) / D)
    angles = torch.arange(L, dtype=torch.float64).unsqueeze(1) * inv_freq
    pe = torch.stack([angles.sin(), angles.cos()], dim=-1).view(L, D)
    return pe.to(torch.get_default_dtype())
