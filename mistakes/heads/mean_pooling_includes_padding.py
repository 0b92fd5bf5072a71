"""Your mean pooling averages over every position, padding included; only real tokens may count.

zh: 你的平均池化把 padding 位置也算进去了；只能对真实词（attention_mask 为 True）求平均。
catches: classification_head_reference, classification_head_padding
"""

import torch
from torch import nn


class ClassificationHead(nn.Module):
    def __init__(self, d_model: int, num_labels: int, pooling: str = "cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.proj = nn.Linear(d_model, num_labels)

    def forward(self, h: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        pooled = h[:, 0] if self.pooling == "cls" else h.mean(dim=1)
        return self.proj(pooled)
