"""Your need_weights probabilities are averaged over the heads; the contract asks for one [Lq, Lk] matrix per head.

zh: 你返回的注意力概率对所有头取了平均；应返回每个头各自的概率 [B, H, Lq, Lk]。
catches: mha_weights_reference
"""

# split_heads, merge_heads and the class come from the reference module this is appended to.
# ruff: noqa: F821
from attention import scaled_dot_product_attention


class MultiHeadAttention(MultiHeadAttention):
    def forward(self, x, kv=None, mask=None, need_weights=False):
        kv = x if kv is None else kv
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(kv), self.n_heads)
        v = split_heads(self.v_proj(kv), self.n_heads)
        out, probs = scaled_dot_product_attention(q, k, v, mask)
        out = self.o_proj(merge_heads(out))
        return (out, probs.mean(dim=1)) if need_weights else out
