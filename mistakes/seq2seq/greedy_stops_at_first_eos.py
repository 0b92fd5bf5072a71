"""Your greedy_translate stops as soon as ANY row produces eos_id; it must go on until EVERY row has produced it (or max_new_tokens is reached).

zh: 你的 greedy_translate 在任意一行生成 eos_id 时就停止了；应当等到每一行都生成 eos_id（或达到 max_new_tokens）才停止。
catches: greedy_translate_eos
"""

import torch


@torch.no_grad()
def greedy_translate(model, src, bos_id, eos_id, max_new_tokens, src_mask=None):
    if not 0 <= max_new_tokens <= model.max_len:
        raise ValueError("max_new_tokens out of range")
    memory = model.encode(src, src_mask)
    out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long)
    for _ in range(max_new_tokens):
        next_id = model.proj(model.decode(out, memory, src_mask)[:, -1]).argmax(-1)
        out = torch.cat([out, next_id[:, None]], dim=1)
        if (next_id == eos_id).any():
            break
    return out
