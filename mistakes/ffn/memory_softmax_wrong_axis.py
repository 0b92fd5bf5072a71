"""Your neural_memory normalises over the batch (dim 0) instead of over the N memory slots (the last dim).

zh: 你的 neural_memory 在 batch 维（dim 0）上做 softmax；应在 N 个记忆槽（最后一维）上归一化。
catches: neural_memory_reference
"""

import torch
from attention import softmax


def neural_memory(x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    p = softmax(x @ keys.T, dim=0)
    return p @ values
