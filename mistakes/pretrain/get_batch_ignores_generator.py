"""Your get_batch draws the offsets from torch's global random generator instead of the generator it was given, so a seeded generator does not make the batches repeatable.

zh: 你的 get_batch 用 torch 的全局随机数生成器抽取起点，而不是传入的 generator，所以固定种子也无法复现批次。
catches: get_batch_behaviour
"""

import torch


def get_batch(data, batch_size, context_length, generator=None):
    N, T = data.shape[0], context_length
    if T < 1 or N < T + 1:
        raise ValueError(f"len(data)={N} is too short for context_length={T}")
    starts = torch.randint(N - T, (batch_size,))
    windows = data[starts[:, None] + torch.arange(T + 1)]
    return windows[:, :-1], windows[:, 1:]
