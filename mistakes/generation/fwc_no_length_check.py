"""Your forward_with_cache does not check P + T <= max_len, so too many positions fail with an IndexError inside the embedding instead of a ValueError.

zh: 你的 forward_with_cache 没有检查 P + T <= max_len：位置过多时在位置嵌入里报 IndexError，而不是 ValueError。
catches: fwc_behaviour
"""

import torch


def forward_with_cache(model, ids, cache=None):
    B, T = ids.shape
    P = 0 if not cache else cache[0][0].shape[2]
    pos = torch.arange(P, P + T, device=ids.device)
    x = model.tok_emb(ids) + model.pos_emb(pos)
    new_cache = []
    for i, block in enumerate(model.blocks):
        a, kv = _cached_attention(block.attn, block.ln1(x), cache[i] if cache else None)  # noqa: F821
        x = x + a
        x = x + block.ffn(block.ln2(x))
        new_cache.append(kv)
    return model.lm_head(model.ln_f(x)), new_cache
