"""Your greedy_translate accepts max_new_tokens > model.max_len (it only fails later, if the decoder ever reads more than max_len tokens); reject it with ValueError up front.

zh: 你的 greedy_translate 接受了 max_new_tokens > model.max_len（只有当解码器真的读入超过 max_len 个词时才会出错）；应一开始就抛出 ValueError。
catches: greedy_translate_behaviour
"""

import torch


@torch.no_grad()
def greedy_translate(model, src, bos_id, eos_id, max_new_tokens, src_mask=None):
    memory = model.encode(src, src_mask)
    out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long)
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(max_new_tokens):
        next_id = model.proj(model.decode(out, memory, src_mask)[:, -1]).argmax(-1).masked_fill(done, eos_id)
        out = torch.cat([out, next_id[:, None]], dim=1)
        done = done | (next_id == eos_id)
        if done.all():
            break
    return out
