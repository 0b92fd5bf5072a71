"""Where a word stands -- my `positional` solution.

(Whole-file alternative for tests/test_correct_other_ways.py: replaces exercises/positional.py.
What it does differently: ``__all__``, constants and ``torch.manual_seed(0)`` at import;
``sinusoidal_positions`` stacks (sin, cos) on a new last axis and flattens, with the frequencies
from an ``lru_cache``'d float64 helper shared with RoPE; ``LearnedPositionalEmbedding`` *is* an
``nn.Embedding`` subclass (its one parameter ``weight``, re-drawn from N(0, 0.02²)) whose
forward adds ``super().forward(positions)`` and prints a debug line on its first call;
``apply_rope`` validates through a private helper, builds cos/sin with ``Tensor.repeat`` and
uses its own ``rotate_half``, positions accepted as any integer sequence; a ``__main__`` block.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["sinusoidal_positions", "LearnedPositionalEmbedding", "apply_rope", "rotate_half"]

BASE = 10000.0
WPE_STD = 0.02

torch.manual_seed(0)


@functools.lru_cache(maxsize=128)
def _inv_freq(d: int, base: float) -> Tensor:
    """base^(-(0, 2, ..., d-2)/d) in float64, (d/2,). Read-only: callers never modify it."""
    exponent = torch.arange(0, d, 2, dtype=torch.float64) / d
    return torch.exp(-math.log(base) * exponent)


def sinusoidal_positions(L: int, D: int, base: float = BASE) -> Tensor:
    """PE[p, 2i] = sin(p / base^(2i/D)), PE[p, 2i+1] = cos(p / base^(2i/D)); [L, D]."""
    if L < 0 or D < 0:
        raise ValueError(f"sinusoidal_positions: L and D must be >= 0 (got L={L}, D={D})")
    if D % 2:
        raise ValueError(f"sinusoidal_positions: D must be even, got D={D}")
    angles = torch.arange(L, dtype=torch.float64)[:, None] * _inv_freq(D, float(base))[None, :]
    table = torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(L, D)   # sin, cos, sin, cos...
    return table.to(torch.get_default_dtype())


class LearnedPositionalEmbedding(nn.Embedding):
    """x + weight[:L]; weight (max_len, d_model) from N(0, 0.02²)."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__(max_len, d_model)
        nn.init.normal_(self.weight, mean=0.0, std=WPE_STD)
        self.max_len = max_len
        self._announced = False

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        L = x.shape[-2]
        if L > self.max_len:
            raise ValueError(f"sequence of length {L} is longer than max_len={self.max_len}")
        if not self._announced:
            print(f"LearnedPositionalEmbedding: first call, x {tuple(x.shape)} {x.dtype}")
            self._announced = True
        positions = torch.arange(L, device=x.device)
        return x + super().forward(positions)


def rotate_half(x: Tensor) -> Tensor:
    """cat(-x[..., d/2:], x[..., :d/2])."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((second.neg(), first), dim=-1)


def _rope_positions(positions: Tensor | Sequence[int] | None, L: int) -> Tensor:
    if positions is None:
        return torch.arange(L, dtype=torch.float64)
    pos = torch.as_tensor(positions)
    if pos.dim() != 1 or pos.shape[0] != L:
        raise ValueError(f"apply_rope: positions must have shape [{L}], got {list(pos.shape)}")
    return pos.to(torch.float64)


def apply_rope(x: Tensor, positions: Tensor | Sequence[int] | None = None,
               base: float = BASE) -> Tensor:
    """Rotary embedding in the Llama 'rotate half' layout; [..., L, d] -> [..., L, d]."""
    *_, L, d = x.shape
    if d % 2 != 0:
        raise ValueError(f"apply_rope: the width d must be even, got d={d}")
    pos = _rope_positions(positions, L)
    angles = torch.outer(pos, _inv_freq(d, float(base)))          # (L, d/2)
    cos = angles.cos().repeat(1, 2).to(device=x.device, dtype=x.dtype)     # (L, d) = cat(cos, cos)
    sin = angles.sin().repeat(1, 2).to(device=x.device, dtype=x.dtype)
    return x * cos + rotate_half(x) * sin


if __name__ == "__main__":
    print(sinusoidal_positions(3, 4))
    pe = LearnedPositionalEmbedding(8, 4)
    print(pe(torch.zeros(2, 3, 4)).shape, [n for n, _ in pe.named_parameters()])
    q = torch.randn(1, 5, 6)
    print(torch.allclose(apply_rope(q).norm(dim=-1), q.norm(dim=-1)))
