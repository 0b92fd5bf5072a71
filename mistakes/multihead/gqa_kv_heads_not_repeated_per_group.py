"""Your GroupedQueryAttention gives query head h the kv head h % n_kv_heads instead of h // (n_heads // n_kv_heads).

zh: 你的分组查询注意力让第 h 个查询头使用第 h % n_kv_heads 个 K/V 头，应为 h // (n_heads // n_kv_heads)。
catches: gqa_reference
"""

# split_heads, merge_heads and the class come from the reference module this is appended to.
# ruff: noqa: F821
import torch
from attention import scaled_dot_product_attention


class GroupedQueryAttention(GroupedQueryAttention):
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n_rep = self.n_heads // self.n_kv_heads
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(x), self.n_kv_heads)
        v = split_heads(self.v_proj(x), self.n_kv_heads)
        k, v = k.repeat(1, n_rep, 1, 1), v.repeat(1, n_rep, 1, 1)
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return self.o_proj(merge_heads(out))
