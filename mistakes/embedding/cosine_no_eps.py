"""Your cosine_similarity divides by the raw norms, so a zero vector gives NaN instead of 0.

zh: 你的 cosine_similarity 直接除以范数，没有与 eps 取最大值，零向量会得到 NaN 而不是 0。
catches: cosine_similarity_reference, cosine_similarity_properties
"""
import torch


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError("a and b need the same last dim")
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    return a @ b.transpose(-2, -1)
