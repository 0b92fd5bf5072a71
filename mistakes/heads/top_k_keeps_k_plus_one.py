"""Your top-k cut keeps k + 1 tokens (it compares with the (k+1)-th largest logit, not the k-th).

zh: 你的 top-k 截断保留了 k + 1 个词（用第 k+1 大的 logit 作阈值，应为第 k 大）。
catches: sample_top_k_statistics
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
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k + 1, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
