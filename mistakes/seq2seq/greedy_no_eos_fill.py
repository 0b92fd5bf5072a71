"""Your greedy_translate keeps taking the model's argmax for rows that have already produced eos_id; a finished row must continue with eos_id only.

zh: 你的 greedy_translate 对已经生成 eos_id 的行仍然继续取模型的 argmax；已结束的行之后只能填 eos_id。
catches: greedy_translate_eos
"""

import torch


@torch.no_grad()
def greedy_translate(model, src, bos_id, eos_id, max_new_tokens, src_mask=None):
    if not 0 <= max_new_tokens <= model.max_len:
        raise ValueError("max_new_tokens out of range")
    memory = model.encode(src, src_mask)
    out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long)
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(max_new_tokens):
        next_id = model.proj(model.decode(out, memory, src_mask)[:, -1]).argmax(-1)
        out = torch.cat([out, next_id[:, None]], dim=1)
        done = done | (next_id == eos_id)
        if done.all():
            break
    return out
