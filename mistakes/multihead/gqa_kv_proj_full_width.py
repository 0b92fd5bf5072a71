"""Your k_proj and v_proj produce n_heads heads; in grouped-query attention they produce only n_kv_heads heads of width dh.

zh: 你的 k_proj、v_proj 输出了 n_heads 个头；分组查询注意力中它们只输出 n_kv_heads 个宽为 dh 的头。
catches: gqa_structure, gqa_reference
"""

# split_heads, merge_heads and the class come from the reference module this is appended to.
# ruff: noqa: F821
import torch
from attention import scaled_dot_product_attention
from torch import nn


class GroupedQueryAttention(GroupedQueryAttention):
    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, bias: bool = False):
        nn.Module.__init__(self)
        if d_model % n_heads != 0 or n_heads % n_kv_heads != 0:
            raise ValueError("head counts do not divide")
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(x), self.n_heads)
        v = split_heads(self.v_proj(x), self.n_heads)
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.o_proj(merge_heads(out))
