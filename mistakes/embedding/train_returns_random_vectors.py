"""Your train_word_vectors returns vectors that were never trained.

zh: 你的 train_word_vectors 返回的词向量没有经过训练。
catches: train_word_vectors_quality
"""
import torch


def train_word_vectors(corpus: torch.Tensor, vocab_size: int, dim: int = 32, window: int = 2,
                       epochs: int = 3, lr: float = 0.05, seed: int = 0) -> torch.Tensor:
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    g = torch.Generator().manual_seed(seed)
    return torch.randn(vocab_size, dim, generator=g)
