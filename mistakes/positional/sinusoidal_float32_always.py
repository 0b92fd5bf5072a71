"""Your sinusoidal_positions always returns float32; with no input tensor it must return torch.get_default_dtype().

zh: 你的 sinusoidal_positions 总是返回 float32；没有输入张量时应返回 torch.get_default_dtype()。
catches:
"""
import torch


def sinusoidal_positions(L: int, D: int, base: float = 10000.0) -> torch.Tensor:
    if D % 2 or D < 0 or L < 0:
        raise ValueError(f"need L >= 0 and an even D >= 0, got L={L}, D={D}")
    inv_freq = base ** (-torch.arange(0, D, 2, dtype=torch.float32) / D)
    angles = torch.arange(L, dtype=torch.float32).unsqueeze(1) * inv_freq
    return torch.stack([angles.sin(), angles.cos()], dim=-1).view(L, D)
