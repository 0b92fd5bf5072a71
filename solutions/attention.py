"""Exercise `attention` — from cosine attention to scaled dot-product attention.
练习 `attention`：从余弦注意力到缩放点积注意力。

Lecture: "Attention Probs", "如何科学获取 Attention Score？" and "🤗 Attention".
Shapes: `...` is any number of leading batch dims; Lq / Lk query / key lengths.
Masks: a bool tensor, True = "may attend" (like the `attn_mask` of
`torch.nn.functional.scaled_dot_product_attention`), broadcast against the scores [..., Lq, Lk].
"""

from __future__ import annotations

import math

import torch
from torch import nn


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax / 数值稳定的 softmax.

    softmax(x)_i = exp(x_i - max(x)) / Σ_j exp(x_j - max(x))     (along `dim`)

    Subtracting the max changes nothing mathematically (softmax is shift invariant) but keeps
    exp() from overflowing: inputs of magnitude 1e4 must give finite probabilities.
    减去最大值不改变结果（平移不变），但能避免 exp 溢出：输入量级为 1e4 时结果也必须有限。

    Args:
        x: [...] any shape, float32 or float64.
        dim: the axis whose entries must sum to 1.
    Returns:
        a tensor of x's shape and dtype; entries >= 0, summing to 1 along `dim`.
        An entry of -inf gets probability exactly 0. An empty axis (size 0 along `dim`)
        gives an empty result of x's shape, not an error (x.amax fails there: check first).
        长度为 0 的维度返回同形状的空结果，而不是报错。

    Banned here: torch.softmax, F.softmax, Tensor.softmax and the log_softmax variants.
    """
    # TODO: subtract the max along `dim` (keepdim=True), exponentiate, divide by the sum.
    # BEGIN SOLUTION
    if x.shape[dim] == 0:  # nothing to normalise (and amax over an empty axis raises)
        return x.clone()
    shifted = x - x.amax(dim=dim, keepdim=True)
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)
    # END SOLUTION


def cosine_attention(E: torch.Tensor) -> torch.Tensor:
    """The lecture's first attention, with no parameters / 无参数的余弦注意力.

    scores[i, j] = cos(E_i, E_j);  probs = softmax over j;  out_i = Σ_j probs[i, j] · E_j

    This is the "🍎🍎🍎 are good" example: every word looks at the words most similar to it —
    and the most similar to 🍎 is always 🍎 itself, which is why Q/K projections come next.
    这就是"🍎🍎🍎🍎 are good"的例子：与 E_🍎 最接近的总是 E_🍎 自己。

    Args:
        E: [..., L, D] word vectors of a sentence.
    Returns:
        [..., L, D] the re-weighted vectors (same dtype as E).
    Use norms clamped below at 1e-8 so that an all-zero vector gives cosine 0, not NaN.
    """
    # TODO: normalise each row of E, take all pairwise dot products (cosines), softmax over
    #       the last axis with your softmax, then mix the rows of E with those weights.
    # BEGIN SOLUTION
    unit = E / E.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    scores = unit @ unit.transpose(-2, -1)                      # (..., L, L)
    return softmax(scores, dim=-1) @ E                          # (..., L, D)
    # END SOLUTION


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention / 缩放点积注意力.

    probs = softmax(q @ kᵀ / sqrt(dk)),   out = probs @ v

    Query: 我想找到他的名字… Keys: 小明 · 他的名字 = 0.8, 他 · 他的名字 = 0.1, …
    Result = 0.8·V_小明 + 0.1·V_他 + …

    Args:
        q: [..., Lq, dk]  what each position is looking for (Query)
        k: [..., Lk, dk]  what each position offers to be found by (Key)
        v: [..., Lk, dv]  what each position hands over when found (Value)
        mask: optional bool, broadcastable to [..., Lq, Lk]; True = may attend.
    Returns:
        (out [..., Lq, dv], probs [..., Lq, Lk]); masked keys get probability exactly 0.
        A query row with every key masked is outside the contract.

    Banned here: F.scaled_dot_product_attention, nn.MultiheadAttention.
    """
    # TODO: scores from q and k, scaled by sqrt(dk); keep masked keys out of the softmax
    #       (fill them with -inf before it); use your softmax; weight v by the probabilities.
    # BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])    # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = softmax(scores, dim=-1)
    return probs @ v, probs                                       # (..., Lq, dv)
    # END SOLUTION


class SelfAttention(nn.Module):
    """Single-head self-attention with Q/K/V/O projections / 单头自注意力.

    Embedding --Linear--> (Query, Key, Value);  out = o_proj(Attention(Q, K, V))

    Args:
        d_model: width D of the input.
        d_k: width of queries, keys and values (defaults to d_model).
    Submodules (names are part of the contract, all with bias):
        q_proj, k_proj, v_proj: nn.Linear(d_model, d_k);  o_proj: nn.Linear(d_k, d_model).
    forward(x [B, L, D], mask=None) -> [B, L, D]; `mask` broadcasts to the scores [B, L, L]
    (a key-padding mask is passed as [B, 1, L]).
    """

    def __init__(self, d_model: int, d_k: int | None = None) -> None:
        super().__init__()
        # TODO: create q_proj, k_proj, v_proj (d_model -> d_k) and o_proj (d_k -> d_model).
        # BEGIN SOLUTION
        d_k = d_model if d_k is None else d_k
        self.q_proj = nn.Linear(d_model, d_k)
        self.k_proj = nn.Linear(d_model, d_k)
        self.v_proj = nn.Linear(d_model, d_k)
        self.o_proj = nn.Linear(d_k, d_model)
        # END SOLUTION

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # TODO: project x to q, k, v; attend with your scaled_dot_product_attention; o_proj.
        # BEGIN SOLUTION
        out, _ = scaled_dot_product_attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), mask)
        return self.o_proj(out)                                   # (B, L, D)
        # END SOLUTION
