"""positional written another way: sinusoidal_positions divides the positions by base^(2i/D)
(torch.outer) and fills the even / odd columns of a float64 table by strided assignment before
casting to the default dtype; LearnedPositionalEmbedding's table filled with nn.init.normal_
(std 0.02) and its rows gathered with index_select, added with torch.add; apply_rope as complex
multiplication: the pair (x_j, x_{j+d/2}) becomes x_j + i·x_{j+d/2}, multiplied by
exp(i·angle) from torch.polar in float64, and split back into the two halves."""

import torch
from torch import nn


def sinusoidal_positions(L, D, base=10000.0):
    if L < 0 or D < 0 or D % 2 == 1:
        raise ValueError(f"sinusoidal_positions needs L >= 0 and an even D >= 0 (got L={L}, D={D})")
    pos = torch.arange(L, dtype=torch.float64)
    two_i = torch.arange(0, D, 2, dtype=torch.float64)
    angles = torch.outer(pos, 1.0 / torch.pow(torch.tensor(base, dtype=torch.float64), two_i / D))
    table = torch.empty(L, D, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.to(torch.get_default_dtype())


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_len, d_model))
        nn.init.normal_(self.weight, mean=0.0, std=0.02)

    def forward(self, x):
        L, max_len = x.size(-2), self.weight.size(0)
        if L > max_len:
            raise ValueError(f"got {L} positions but the table only has max_len={max_len}")
        rows = self.weight.index_select(0, torch.arange(L, device=x.device))
        return torch.add(x, rows)


def apply_rope(x, positions=None, base=10000.0):
    L, d = x.shape[-2:]
    if d % 2 != 0:
        raise ValueError(f"RoPE needs an even width, got d={d}")
    if positions is None:
        positions = torch.arange(L)
    elif positions.dim() != 1 or positions.numel() != L:
        raise ValueError(f"expected {L} positions, got shape {tuple(positions.shape)}")
    half = d // 2
    inv_freq = 1.0 / base ** (torch.arange(half, dtype=torch.float64) * 2 / d)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]               # (L, d/2)
    rot = torch.polar(torch.ones_like(angles), angles)                              # exp(i·angle)
    x64 = x.to(torch.float64)
    z = torch.complex(x64[..., :half], x64[..., half:]) * rot
    return torch.cat([z.real, z.imag], dim=-1).to(x.dtype)
