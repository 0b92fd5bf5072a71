"""Your sampler accepts a negative temperature or top_k < 1 instead of raising ValueError.

zh: 温度为负或 top_k < 1 时，你的采样函数没有抛出 ValueError。
catches: sample_greedy_and_invalid
"""

import torch
from attention import softmax


def sample_next_token(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / abs(temperature)
    if top_k is not None and top_k >= 1:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
