"""Your LearnedPositionalEmbedding does not raise ValueError when L > max_len.

zh: 当 L > max_len 时，你的 LearnedPositionalEmbedding 没有抛出 ValueError。
catches: learned_positional_behaviour
"""
import torch
from torch import nn


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.weight = nn.Parameter(0.02 * torch.randn(max_len, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[: x.shape[-2]]
