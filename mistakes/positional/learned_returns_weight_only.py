"""Your LearnedPositionalEmbedding returns weight[:L] without adding it to x.

zh: 你的 LearnedPositionalEmbedding 只返回了 weight[:L]，没有加到 x 上。
catches: learned_positional_reference
"""
import torch
from torch import nn


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.weight = nn.Parameter(0.02 * torch.randn(max_len, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = x.shape[-2]
        if L > self.weight.shape[0]:
            raise ValueError(f"sequence length {L} exceeds max_len {self.weight.shape[0]}")
        return self.weight[:L].expand_as(x)
