"""Exercise `attention`, my version.

(Whole-file alternative for tests/test_correct_other_ways.py: replaces exercises/attention.py.
What it does differently: ``__all__``, ``torch.manual_seed(0)`` and a print at import; the
public ``softmax`` is a module-level alias of a private ``_stable_softmax`` that moves ``dim``
to the end; a ``functools.lru_cache``'d helper gives each dtype's fill value; cosine attention
divides by the clamped norms itself and calls the public softmax; scaled dot-product attention
pre-scales q by dk**-0.5, masks with torch.where, and records nothing else; SelfAttention is a
subclass of a generic private ``_ProjectedAttention`` (projections created by ``setattr`` in a
loop from a tuple of names, in another order), its forward a ``*args, **kwargs`` passthrough to
``super().forward``, a ``@torch.jit.ignore`` debug helper that prints when ``self.debug``; and a
``__main__`` self-test.)
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from torch import Tensor, nn

__all__ = ["softmax", "cosine_attention", "scaled_dot_product_attention", "SelfAttention"]

torch.manual_seed(0)
print("[attention] module imported")

_NORM_FLOOR = 1e-8


@functools.lru_cache(maxsize=8)
def _fill_value(dtype: torch.dtype) -> float:
    """What a masked score becomes: -inf, so exp() gives exactly 0."""
    return -math.inf if dtype.is_floating_point else torch.iinfo(dtype).min


def _stable_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x - max) / Σ exp(x - max) along ``dim``; an empty axis gives an empty result."""
    moved = x.movedim(dim, -1)
    if moved.shape[-1] == 0:
        return torch.empty_like(x)
    m = moved.max(dim=-1, keepdim=True).values
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))   # a row of -inf stays well defined
    e = (moved - m).exp()
    return (e / e.sum(dim=-1, keepdim=True)).movedim(-1, dim)


softmax = _stable_softmax


def cosine_attention(E: Tensor) -> Tensor:
    """probs = softmax_j cos(E_i, E_j); out = probs @ E."""
    norms = torch.linalg.vector_norm(E, dim=-1, keepdim=True).clamp(min=_NORM_FLOOR)
    unit = E / norms
    cos = unit @ unit.transpose(-1, -2)
    return softmax(cos, dim=-1) @ E


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor,
                                 mask: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:  # noqa: UP045
    """softmax(q kᵀ / sqrt(dk)) v, masked keys (mask False) get probability exactly 0."""
    dk = q.shape[-1]
    scores = (q * dk ** -0.5) @ k.transpose(-2, -1)
    if mask is not None:
        scores = torch.where(mask.bool(), scores,
                             torch.tensor(_fill_value(scores.dtype), dtype=scores.dtype))
    probs = softmax(scores, dim=-1)
    return probs @ v, probs


class _ProjectedAttention(nn.Module):
    """Attention of projected queries, keys and values, mixed back by an output projection."""

    _names = ("o_proj", "v_proj", "k_proj", "q_proj")

    def __init__(self, d_in: int, d_attn: int, bias: bool = True) -> None:
        super().__init__()
        for name in self._names:
            shape = (d_attn, d_in) if name == "o_proj" else (d_in, d_attn)
            setattr(self, name, nn.Linear(*shape, bias=bias))
        self.debug = False

    @torch.jit.ignore
    def _trace(self, what: str, t: Tensor) -> None:
        if self.debug:
            print(f"{type(self).__name__}: {what} {tuple(t.shape)}")

    def forward(self, queries_from: Tensor, keys_from: Tensor, mask: Tensor | None = None) -> Tensor:
        q = self.q_proj(queries_from)
        k = self.k_proj(keys_from)
        v = self.v_proj(keys_from)
        out, probs = scaled_dot_product_attention(q, k, v, mask)
        self._trace("probs", probs)
        return self.o_proj(out)


class SelfAttention(_ProjectedAttention):
    """Single-head self-attention: q_proj, k_proj, v_proj: Linear(D, d_k); o_proj: Linear(d_k, D)."""

    def __init__(self, d_model: int, d_k: int | None = None) -> None:
        super().__init__(d_model, d_model if d_k is None else d_k, bias=True)
        self.d_model = d_model
        self.d_k = d_model if d_k is None else d_k

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        return super().forward(x, x, *args, **kwargs)


if __name__ == "__main__":
    x = torch.tensor([[1.0, 2.0, 3.0], [1e4, -1e4, 0.0]])
    print(softmax(x), softmax(x).sum(-1))
    E = torch.randn(4, 3)
    print(cosine_attention(E).shape)
    att = SelfAttention(6, 4)
    att.debug = True
    print(att(torch.randn(2, 5, 6), mask=torch.tril(torch.ones(5, 5, dtype=torch.bool))).shape)
