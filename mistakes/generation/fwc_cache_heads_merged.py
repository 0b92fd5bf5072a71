"""Your cache stores the keys and values before split_heads, as [B, P+T, D], instead of [B, H, P+T, dh] per block.

zh: 你的缓存保存的是 split_heads 之前的 K、V（形状 [B, P+T, D]），而不是每个块 [B, H, P+T, dh]。
catches: fwc_cache
"""

import torch


def _cached_attention(attn, h, past):
    T = h.shape[1]
    k_flat, v_flat = attn.k_proj(h), attn.v_proj(h)  # (B, T, D)
    if past is not None:
        k_flat = torch.cat([past[0], k_flat], dim=1)
        v_flat = torch.cat([past[1], v_flat], dim=1)
    q = split_heads(attn.q_proj(h), attn.n_heads)  # noqa: F821
    k = split_heads(k_flat, attn.n_heads)  # noqa: F821
    v = split_heads(v_flat, attn.n_heads)  # noqa: F821
    P = k.shape[2] - T
    mask = torch.ones(T, P + T, dtype=torch.bool, device=h.device).tril(diagonal=P)
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # noqa: F821
    return attn.o_proj(merge_heads(out)), (k_flat, v_flat)  # noqa: F821


def forward_with_cache(model, ids, cache=None):
    B, T = ids.shape
    P = 0 if not cache else cache[0][0].shape[1]
    max_len = model.pos_emb.num_embeddings
    if P + T > max_len:
        raise ValueError(f"{P} cached + {T} new positions exceed max_len = {max_len}")
    pos = torch.arange(P, P + T, device=ids.device)
    x = model.tok_emb(ids) + model.pos_emb(pos)
    new_cache = []
    for i, block in enumerate(model.blocks):
        a, kv = _cached_attention(block.attn, block.ln1(x), cache[i] if cache else None)
        x = x + a
        x = x + block.ffn(block.ln2(x))
        new_cache.append(kv)
    return model.lm_head(model.ln_f(x)), new_cache
