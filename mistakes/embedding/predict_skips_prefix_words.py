"""Your predict_next_token never picks a word of the prefix; any word may be the closest one.

zh: 你的 predict_next_token 排除了前缀中的词；任何词（包括前缀中的词）都可以是最接近的词。
catches: predict_next_token_reference
"""
import torch


def predict_next_token(weight: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    logits = prefix_logits(weight, prefix)  # noqa: F821
    logits = logits.scatter(-1, prefix, float("-inf"))
    return logits.argmax(dim=-1)
