"""Your cosine_similarity clamps the product of the two norms at eps; each norm must be clamped on its own.

zh: 你的 cosine_similarity 把两个范数的乘积与 eps 取最大值；应当对每个范数分别取最大值。
catches: cosine_similarity_reference, cosine_similarity_properties
"""
import torch


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError("a and b need the same last dim")
    norms = a.norm(dim=-1).unsqueeze(-1) * b.norm(dim=-1).unsqueeze(-2)
    return (a @ b.transpose(-2, -1)) / norms.clamp_min(eps)
