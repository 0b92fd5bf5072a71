"""Your cosine_similarity divides by the raw norms, so a zero vector gives NaN instead of 0.

zh: 你的 cosine_similarity 直接除以范数，没有与 eps 取最大值，零向量会得到 NaN 而不是 0。
catches:
"""
import torch


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    return a @ b.transpose(-2, -1)
