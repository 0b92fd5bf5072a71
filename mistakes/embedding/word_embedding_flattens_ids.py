"""Your WordEmbedding flattens the ids, so a [B, L] batch comes back as [B*L, D] instead of [B, L, D].

zh: 你的 WordEmbedding 把 ids 展平了，[B, L] 的输入返回了 [B*L, D]，而不是 [B, L, D]。
catches: word_embedding_reference
"""
import torch
from torch import nn


class WordEmbedding(nn.Module):
    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(vocab_size, dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids.reshape(-1)]
