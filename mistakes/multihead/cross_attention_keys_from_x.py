"""Your cross-attention takes keys and values from x instead of kv, so it is always self-attention.

zh: 你的交叉注意力的 K、V 仍然来自 x 而不是 kv，结果总是自注意力。
catches:
"""

from attention import scaled_dot_product_attention
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
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(x), self.n_heads)
        v = split_heads(self.v_proj(x), self.n_heads)
        out, probs = scaled_dot_product_attention(q, k, v, mask)
        out = self.o_proj(merge_heads(out))
        return (out, probs) if need_weights else out
