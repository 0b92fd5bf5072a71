"""Your cosine_similarity calls F.cosine_similarity, which this exercise asks you to write yourself.

zh: 你的 cosine_similarity 调用了 F.cosine_similarity，本练习要求你自己实现它。
catches: banned_apis
"""
import torch
import torch.nn.functional as F


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError("a and b need the same last dim")
    return F.cosine_similarity(a.unsqueeze(-2), b.unsqueeze(-3), dim=-1, eps=eps)
