"""Your generate_cached applies top-p (and top-k) to the logits before dividing by the temperature, so the nucleus is chosen from the wrong distribution.

zh: 你的 generate_cached 在除以温度之前就做了 top-p（和 top-k），核采样的集合是从错误的分布里选出来的。
catches: generate_sampling_statistics
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
            if top_k is not None and top_k < scores.shape[-1]:
                kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
                scores = scores.masked_fill(scores < kth, float("-inf"))
            if top_p is not None:
                scores = top_p_filter(scores, top_p)  # noqa: F821
            scores = scores / temperature
            probs = scores.softmax(dim=-1)
            next_id = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        if eos_id is not None:
            next_id = next_id.masked_fill(finished, eos_id)
            finished = finished | (next_id == eos_id)
        ids = torch.cat([ids, next_id[:, None]], dim=1)
        if (eos_id is not None and bool(finished.all())) or step + 1 == max_new_tokens:
            break
        logits, cache = forward_with_cache(model, next_id[:, None], cache)  # noqa: F821
    return ids
