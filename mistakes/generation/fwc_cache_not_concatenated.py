"""Your forward_with_cache never concatenates the cached keys and values: the new tokens attend only to themselves, and the cache keeps only the new positions.

zh: 你的 forward_with_cache 没有把缓存的 K、V 与新的 K、V 拼接起来：新词只能注意到自己，缓存里也只剩新的位置。
catches: fwc_incremental, fwc_cache, generate_greedy
"""

import torch


def _cached_attention(attn, h, past):
    T = h.shape[1]
    q = split_heads(attn.q_proj(h), attn.n_heads)  # noqa: F821
    k = split_heads(attn.k_proj(h), attn.n_heads)  # noqa: F821
    v = split_heads(attn.v_proj(h), attn.n_heads)  # noqa: F821
    mask = torch.ones(T, T, dtype=torch.bool, device=h.device).tril()
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # noqa: F821
    return attn.o_proj(merge_heads(out)), (k, v)  # noqa: F821
