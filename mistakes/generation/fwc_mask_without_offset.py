"""Your causal mask for the new tokens is tril() of [T, P+T] without the offset P, so a new token sees only the first cached positions, not all of them.

zh: 你为新词构造的因果掩码是 [T, P+T] 的 tril()，没有偏移 P：新词只能看到缓存中最前面的几个位置，而不是全部。
catches: fwc_incremental, generate_greedy
"""

import torch


def _cached_attention(attn, h, past):
    T = h.shape[1]
    q = split_heads(attn.q_proj(h), attn.n_heads)  # noqa: F821
    k = split_heads(attn.k_proj(h), attn.n_heads)  # noqa: F821
    v = split_heads(attn.v_proj(h), attn.n_heads)  # noqa: F821
    if past is not None:
        k = torch.cat([past[0], k], dim=2)
        v = torch.cat([past[1], v], dim=2)
    P = k.shape[2] - T
    mask = torch.ones(T, P + T, dtype=torch.bool, device=h.device).tril()
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # noqa: F821
    return attn.o_proj(merge_heads(out)), (k, v)  # noqa: F821
