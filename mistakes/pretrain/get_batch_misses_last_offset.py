"""Your get_batch never starts a window at the last offset N - T - 1: torch.randint's upper bound is exclusive, so draw with torch.randint(N - T, ...).

zh: 你的 get_batch 从不从最后一个起点 N - T - 1 开始取窗口：torch.randint 的上界不包含在内，应当用 torch.randint(N - T, ...)。
catches: get_batch_offsets
"""

import torch


def get_batch(data, batch_size, context_length, generator=None):
    N, T = data.shape[0], context_length
    if T < 1 or N < T + 1:
        raise ValueError(f"len(data)={N} is too short for context_length={T}")
    starts = torch.randint(N - T - 1, (batch_size,), generator=generator)
    windows = data[starts[:, None] + torch.arange(T + 1)]
    return windows[:, :-1], windows[:, 1:]
