"""Your multi-head scores are divided by sqrt(d_model) instead of sqrt(dh), the width of one head.

zh: 你的多头注意力分数除以了 sqrt(d_model)，应该除以单个头的宽度 sqrt(dh)。
catches:
"""

import math

from attention import softmax
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        if n_heads < 1 or d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, kv=None, mask=None, need_weights=False):
        kv = x if kv is None else kv
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(kv), self.n_heads)
        v = split_heads(self.v_proj(kv), self.n_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        probs = softmax(scores, dim=-1)
        out = self.o_proj(merge_heads(probs @ v))
        return (out, probs) if need_weights else out
