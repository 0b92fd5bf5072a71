"""Your mean_prefix_embedding sums the prefix vectors instead of averaging them (E_predict is the mean).

zh: 你的 mean_prefix_embedding 对前缀词向量求和而没有取平均（E_predict 是平均值）。
catches: mean_prefix_reference
"""
import torch


def mean_prefix_embedding(weight: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    if prefix.shape[-1] == 0:
        raise ValueError("prefix is empty")
    return weight[prefix].sum(dim=-2)
