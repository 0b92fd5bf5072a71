"""Your "cls" pooling takes the last position; [CLS] is at position 0.

zh: 你的 “cls” 池化取了最后一个位置；[CLS] 在第 0 个位置。
catches: classification_head_reference
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
        if self.pooling == "cls":
            pooled = h[:, -1]
        elif attention_mask is None:
            pooled = h.mean(dim=1)
        else:
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
        return self.proj(pooled)
