"""Your mean_prefix_embedding averages over the batch axis instead of over the prefix's words.

zh: 你的 mean_prefix_embedding 在 batch 维上取平均，而不是在前缀的词上取平均。
catches: mean_prefix_reference, prefix_logits_reference
"""
import torch


def mean_prefix_embedding(weight: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    if prefix.shape[-1] == 0:
        raise ValueError("prefix is empty")
    return weight[prefix].mean(dim=0)
