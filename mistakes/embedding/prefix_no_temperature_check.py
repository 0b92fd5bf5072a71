"""Your prefix_logits accepts temperature <= 0 (dividing by 0 gives inf); raise ValueError instead.

zh: 你的 prefix_logits 接受了 temperature <= 0（除以 0 得到 inf）；应当抛出 ValueError。
catches: prefix_behaviour
"""
import torch


def prefix_logits(weight: torch.Tensor, prefix: torch.Tensor,
                  temperature: float = 1.0) -> torch.Tensor:
    return cosine_similarity(mean_prefix_embedding(weight, prefix), weight) / temperature  # noqa: F821
