"""Your neural_memory mixes the values with the raw scores x Kᵀ; they must go through softmax first.

zh: 你的 neural_memory 直接用原始分数 x Kᵀ 加权 values，忘了先做 softmax 得到 p(k_i|x)。
catches: neural_memory_reference
"""

import torch


def neural_memory(x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return (x @ keys.T) @ values
