"""Your generate_cached lets a row that already produced eos_id go on generating ordinary tokens: finished rows must continue with eos_id only.

zh: 你的 generate_cached 让已经生成 eos_id 的行继续生成普通的词：已结束的行之后只能填 eos_id。
catches: generate_eos
"""

import torch


@torch.no_grad()
def generate_cached(model, ids, max_new_tokens, temperature=0.0, top_k=None, top_p=None,
                    repetition_penalty=1.0, eos_id=None, generator=None):
    L0 = ids.shape[1]
    max_len = model.pos_emb.num_embeddings
    if max_new_tokens < 0 or L0 + max_new_tokens > max_len:
        raise ValueError(f"{L0} prompt + {max_new_tokens} new tokens do not fit max_len = {max_len}")
    if max_new_tokens == 0:
        return ids.clone()
    logits, cache = forward_with_cache(model, ids)  # noqa: F821
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for step in range(max_new_tokens):
        scores = logits[:, -1]
        if repetition_penalty != 1.0:
            scores = _penalise(scores, ids, repetition_penalty)  # noqa: F821
        if temperature == 0:
            next_id = scores.argmax(dim=-1)
        else:
            scores = scores / temperature
            if top_k is not None and top_k < scores.shape[-1]:
                kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
                scores = scores.masked_fill(scores < kth, float("-inf"))
            if top_p is not None:
                scores = top_p_filter(scores, top_p)  # noqa: F821
            probs = scores.softmax(dim=-1)
            next_id = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        if eos_id is not None:
            finished = finished | (next_id == eos_id)
        ids = torch.cat([ids, next_id[:, None]], dim=1)
        if (eos_id is not None and bool(finished.all())) or step + 1 == max_new_tokens:
            break
        logits, cache = forward_with_cache(model, next_id[:, None], cache)  # noqa: F821
    return ids
