"""Your get_batch returns y equal to x (y = data[s : s+T]); the targets must be the NEXT tokens, y = data[s+1 : s+T+1], or the model only learns to copy its input.

zh: 你的 get_batch 返回的 y 与 x 相同（y = data[s : s+T]）；目标应是下一个词 y = data[s+1 : s+T+1]，否则模型只学会复制输入。
catches: get_batch_shift, pretrain_quality
"""

import torch


def get_batch(data, batch_size, context_length, generator=None):
    N, T = data.shape[0], context_length
    if T < 1 or N < T + 1:
        raise ValueError(f"len(data)={N} is too short for context_length={T}")
    starts = torch.randint(N - T, (batch_size,), generator=generator)
    x = torch.stack([data[s:s + T] for s in starts.tolist()])
    y = torch.stack([data[s:s + T] for s in starts.tolist()])
    return x, y
