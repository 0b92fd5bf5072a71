"""A correct WordEmbedding written another way: a class with no methods of its own, all
inherited from a base class of the submission (no stub: banned_apis gives its points)."""

import torch
from torch import nn


class _Table(nn.Module):
    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids]


class WordEmbedding(_Table):
    """E_v = weight[v]: all inherited from _Table."""
