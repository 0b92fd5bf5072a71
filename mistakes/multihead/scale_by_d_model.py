"""Your multi-head scores are divided by sqrt(d_model) instead of sqrt(dh), the width of one head.

zh: 你的多头注意力分数除以了 sqrt(d_model)，应该除以单个头的宽度 sqrt(dh)。
catches: mha_self_reference, mha_cross_reference, mha_weights_reference
"""

# split_heads, merge_heads and the class come from the reference module this is appended to.
# ruff: noqa: F821
import math

from attention import softmax


class MultiHeadAttention(MultiHeadAttention):
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
