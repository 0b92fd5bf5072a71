"""positional written a second other way: sinusoidal_positions entirely in the default dtype
(float32 in the worker, no float64 step), the frequencies as exp(-2i·ln(base)/D) (the
Annotated Transformer's div_term), and every column as one sine with a phase, cos(x) =
sin(x + π/2), so even and odd columns come from one expression; LearnedPositionalEmbedding
keeps max_len as an attribute and the positions 0..max_len-1 as a non-persistent buffer, and
adds F.embedding(positions[:L], weight) (no ban in this exercise); apply_rope views the last dim
as (2, d/2) halves and writes the rotation pair by pair, (x1·cos - x2·sin, x2·cos + x1·sin),
with the angles in x's own dtype (float32 for float32 inputs, float64 for float64 ones)."""

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_positions(L, D, base=10000.0):
    if L < 0 or D < 0 or D % 2 != 0:
        raise ValueError(f"sinusoidal_positions: L must be >= 0 and D even and >= 0, got L={L}, D={D}")
    dtype = torch.get_default_dtype()
    col = torch.arange(D)
    div_term = torch.exp((col // 2 * 2).to(dtype) * (-math.log(base) / D))       # [D]
    phase = (col % 2).to(dtype) * (math.pi / 2)                                  # 0 for sin, π/2 for cos
    pos = torch.arange(L, dtype=dtype)[:, None]                                  # [L, 1]
    return torch.sin(pos * div_term + phase)


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = int(max_len)
        self.register_buffer("positions", torch.arange(self.max_len), persistent=False)
        self.weight = nn.Parameter(torch.randn(self.max_len, d_model) * 0.02)

    def forward(self, x):
        L = x.shape[-2]
        if L > self.max_len:
            raise ValueError(f"LearnedPositionalEmbedding: {L} positions do not fit in max_len={self.max_len}")
        return x + F.embedding(self.positions[:L], self.weight)


def apply_rope(x, positions=None, base=10000.0):
    *_, L, d = x.shape
    if d % 2 == 1:
        raise ValueError(f"apply_rope: the width d={d} must be even")
    if positions is None:
        positions = torch.arange(L, device=x.device)
    if positions.dim() != 1 or positions.shape[0] != L:
        raise ValueError(f"apply_rope: positions has shape {tuple(positions.shape)}, expected ({L},)")
    half = d // 2
    inv_freq = torch.exp(torch.arange(half, dtype=x.dtype, device=x.device) * (-2.0 * math.log(base) / d))
    theta = positions.to(x.dtype)[:, None] * inv_freq                            # [L, d/2]
    c, s = theta.cos(), theta.sin()
    pair = x.unflatten(-1, (2, half))                                            # [..., L, 2, d/2]
    x1, x2 = pair[..., 0, :], pair[..., 1, :]
    return torch.stack([x1 * c - x2 * s, x2 * c + x1 * s], dim=-2).flatten(-2)
