"""Your generate_cached runs the whole sequence through the model at every step instead of feeding only the new token with the cache.

zh: 你的 generate_cached 每一步都把整个序列重新送进模型，而不是只送入新生成的词并使用缓存。
catches: generate_one_forward_per_token
"""

import torch


@torch.no_grad()
def generate_cached(model, ids, max_new_tokens, temperature=0.0, top_k=None, top_p=None,
                    repetition_penalty=1.0, eos_id=None, generator=None):
    L0 = ids.shape[1]
    if max_new_tokens < 0 or L0 + max_new_tokens > model.pos_emb.num_embeddings:
        raise ValueError("too long")
    finished = torch.zeros(ids.shape[0], dtype=torch.bool)
    for _ in range(max_new_tokens):
        scores = model(ids)[:, -1]
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
            next_id = torch.multinomial(scores.softmax(-1), 1, generator=generator).squeeze(-1)
        if eos_id is not None:
            next_id = next_id.masked_fill(finished, eos_id)
            finished = finished | (next_id == eos_id)
        ids = torch.cat([ids, next_id[:, None]], dim=1)
        if eos_id is not None and bool(finished.all()):
            break
    return ids
