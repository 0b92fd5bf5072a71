"""Exercise 5, multi-head and grouped-query attention: my version.

(Whole-file alternative for tests/test_correct_other_ways.py: replaces exercises/multihead.py.
What it does differently: ``import attention as att`` instead of importing the function;
``__all__``; the head arithmetic and its validation in a helper module of the submission
(``helpers_multihead_whole.HeadLayout``); one private base class ``_Attention`` holds the four
projections (registered by a loop of ``add_module`` calls) and the
forward; MultiHeadAttention and GroupedQueryAttention are thin subclasses, GQA's forward calls
``super().forward`` (which repeats the kv heads when n_kv_heads < n_heads); ``need_weights``
is keyword-only; split/merge with reshape + movedim; repeat_kv by ``unsqueeze().expand()``
(Llama's) with n_rep == 1 returning x itself; a ``__main__`` self-test against
nn.MultiheadAttention.)
"""

from __future__ import annotations

import attention as att
import torch
from helpers_multihead_whole import HeadLayout
from torch import Tensor, nn

__all__ = ["split_heads", "merge_heads", "MultiHeadAttention", "repeat_kv", "GroupedQueryAttention"]


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """[B, L, H*dh] -> [B, H, L, dh]; head h owns features h*dh:(h+1)*dh."""
    B, L, width = x.shape
    if n_heads < 1 or width % n_heads:
        raise ValueError(f"split_heads: the width {width} is not divisible by n_heads={n_heads}")
    return torch.movedim(x.reshape(B, L, n_heads, width // n_heads), 2, 1)


def merge_heads(x: Tensor) -> Tensor:
    """[B, H, L, dh] -> [B, L, H*dh], the inverse of split_heads."""
    B, H, L, dh = x.shape
    return torch.movedim(x, 1, 2).reshape(B, L, H * dh)


def repeat_kv(x: Tensor, n_rep: int) -> Tensor:
    """[B, Hkv, L, dh] -> [B, Hkv*n_rep, L, dh], head order 0,0,..,1,1,.."""
    if n_rep < 1:
        raise ValueError(f"repeat_kv: n_rep must be >= 1, got {n_rep}")
    if n_rep == 1:
        return x
    B, Hkv, L, dh = x.shape
    return x.unsqueeze(2).expand(B, Hkv, n_rep, L, dh).reshape(B, Hkv * n_rep, L, dh)


class _Attention(nn.Module):
    """Projections q/k/v/o and the attention between them; kv heads repeated when fewer."""

    def __init__(self, layout: HeadLayout, bias: bool) -> None:
        super().__init__()
        self.layout = layout
        self.n_heads = layout.n_heads
        D = layout.d_model
        for name, out_features in (("q_proj", D), ("k_proj", layout.kv_dim),
                                   ("v_proj", layout.kv_dim), ("o_proj", D)):
            self.add_module(name, nn.Linear(D, out_features, bias=bias))

    def forward(self, x: Tensor, kv: Tensor | None = None, mask: Tensor | None = None, *,
                need_weights: bool = False):
        source = x if kv is None else kv
        lay = self.layout
        q = split_heads(self.q_proj(x), lay.n_heads)
        k = repeat_kv(split_heads(self.k_proj(source), lay.n_kv_heads), lay.n_rep)
        v = repeat_kv(split_heads(self.v_proj(source), lay.n_kv_heads), lay.n_rep)
        heads, probs = att.scaled_dot_product_attention(q, k, v, mask)     # [B, H, Lq, dh]
        out = self.o_proj(merge_heads(heads))
        if need_weights:
            return out, probs
        return out


class MultiHeadAttention(_Attention):
    """Multi-head attention; self-attention when kv is None, cross-attention otherwise."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True) -> None:
        super().__init__(HeadLayout(d_model, n_heads, n_heads), bias)


class GroupedQueryAttention(_Attention):
    """Grouped-query self-attention: query head h reads kv head h // (n_heads // n_kv_heads)."""

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, bias: bool = False) -> None:
        super().__init__(HeadLayout(d_model, n_heads, n_kv_heads), bias)
        self.n_kv_heads = n_kv_heads

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x, None, mask)


if __name__ == "__main__":
    torch.manual_seed(0)
    D, H = 8, 2
    mine = MultiHeadAttention(D, H)
    ref = nn.MultiheadAttention(D, H, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mine.q_proj.weight, mine.k_proj.weight, mine.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([mine.q_proj.bias, mine.k_proj.bias, mine.v_proj.bias]))
        ref.out_proj.weight.copy_(mine.o_proj.weight)
        ref.out_proj.bias.copy_(mine.o_proj.bias)
    x = torch.randn(2, 5, D)
    print(torch.allclose(mine(x), ref(x, x, x, need_weights=False)[0], atol=1e-6))
    print(GroupedQueryAttention(12, 4, 2)(torch.randn(2, 3, 12)).shape)
