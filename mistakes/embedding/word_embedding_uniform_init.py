"""Your WordEmbedding starts from torch.rand (uniform in [0, 1)); the contract draws the table from N(0, 1) (torch.randn).

zh: 你的 WordEmbedding 用 torch.rand（[0, 1) 均匀分布）初始化；约定是从 N(0, 1)（torch.randn）抽取。
catches: word_embedding_init
"""
import torch
from torch import nn


class WordEmbedding(nn.Module):
    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(vocab_size, dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight[ids]
