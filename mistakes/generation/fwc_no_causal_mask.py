"""Your forward_with_cache uses no causal mask: right for one new token, but a prompt of several tokens lets each position see the tokens after it.

zh: 你的 forward_with_cache 没有使用因果掩码：每次只送入一个新词时没问题，但对多个词的提示，每个位置都能看到它后面的词。
catches: fwc_full, fwc_incremental
"""

import torch


def _cached_attention(attn, h, past):
    q = split_heads(attn.q_proj(h), attn.n_heads)  # noqa: F821
    k = split_heads(attn.k_proj(h), attn.n_heads)  # noqa: F821
    v = split_heads(attn.v_proj(h), attn.n_heads)  # noqa: F821
    if past is not None:
        k = torch.cat([past[0], k], dim=2)
        v = torch.cat([past[1], v], dim=2)
    out, _ = scaled_dot_product_attention(q, k, v)  # noqa: F821
    return attn.o_proj(merge_heads(out)), (k, v)  # noqa: F821
