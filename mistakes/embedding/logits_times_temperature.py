"""Your prefix_logits multiplies by the temperature instead of dividing by it.

zh: 你的 prefix_logits 乘以了 temperature，应当除以 temperature。
catches: prefix_logits_reference
"""
import torch


def prefix_logits(weight: torch.Tensor, prefix: torch.Tensor,
                  temperature: float = 1.0) -> torch.Tensor:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return cosine_similarity(mean_prefix_embedding(weight, prefix), weight) * temperature  # noqa: F821
