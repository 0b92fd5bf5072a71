"""Your greedy_translate does not pass src_mask on to encode and decode, so the translation of a padded source depends on its padding.

zh: 你的 greedy_translate 没有把 src_mask 传给 encode 和 decode，带 padding 的源句的翻译结果受 padding 影响。
catches: greedy_translate_padding
"""

import torch


@torch.no_grad()
def greedy_translate(model, src, bos_id, eos_id, max_new_tokens, src_mask=None):
    if not 0 <= max_new_tokens <= model.max_len:
        raise ValueError("max_new_tokens out of range")
    memory = model.encode(src)
    out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long)
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(max_new_tokens):
        next_id = model.proj(model.decode(out, memory)[:, -1]).argmax(-1).masked_fill(done, eos_id)
        out = torch.cat([out, next_id[:, None]], dim=1)
        done = done | (next_id == eos_id)
        if done.all():
            break
    return out
