"""Your perplexity averages the per-batch losses, so the smaller last batch weighs as much as a full one; average over all predicted tokens (sum of loss * count, divided by the total count).

zh: 你的 perplexity 对每个批次的平均损失再求平均，于是较小的最后一个批次与完整批次权重相同；应当对所有被预测的词求平均（损失 × 词数求和，再除以总词数）。
catches: perplexity_windows
"""

import math

import torch


@torch.no_grad()
def perplexity(model, data, context_length, batch_size=8):
    T = context_length
    n_windows = (data.shape[0] - 1) // T
    if T < 1 or n_windows < 1:
        raise ValueError("no window fits")
    model.eval()
    losses = []
    for first in range(0, n_windows, batch_size):
        idx = torch.arange(first, min(first + batch_size, n_windows))
        windows = data[idx[:, None] * T + torch.arange(T + 1)]
        losses.append(cross_entropy(model(windows[:, :-1]), windows[:, 1:]).item())
    return math.exp(sum(losses) / len(losses))
