"""Your forward_with_cache gives the new tokens positions 0..T-1 again instead of P..P+T-1 (after the cached ones).

zh: 你的 forward_with_cache 给新词的位置又从 0 开始（0..T-1），而不是接在缓存之后的 P..P+T-1。
catches: fwc_incremental, generate_greedy
"""

import torch


def forward_with_cache(model, ids, cache=None):
    B, T = ids.shape
    P = 0 if not cache else cache[0][0].shape[2]
    max_len = model.pos_emb.num_embeddings
    if P + T > max_len:
        raise ValueError(f"{P} cached + {T} new positions exceed max_len = {max_len}")
    pos = torch.arange(T, device=ids.device)
    x = model.tok_emb(ids) + model.pos_emb(pos)
    new_cache = []
    for i, block in enumerate(model.blocks):
        a, kv = _cached_attention(block.attn, block.ln1(x), cache[i] if cache else None)  # noqa: F821
        x = x + a
        x = x + block.ffn(block.ln2(x))
        new_cache.append(kv)
    return model.lm_head(model.ln_f(x)), new_cache
