"""Your sampler ignores the temperature: it samples from softmax(logits), not softmax(logits / temperature).

zh: 你的采样忽略了温度：应从 softmax(logits / temperature) 中采样，而不是 softmax(logits)。
catches: sample_temperature_statistics
"""

import torch
from attention import softmax


def sample_next_token(logits, temperature=1.0, top_k=None, generator=None):
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
