"""Your TextCNN does not raise ValueError when the sentence is shorter than the largest kernel.

zh: 当句子比最大的卷积核还短时，你的 TextCNN 没有抛出 ValueError。
catches: textcnn_structure
"""
import torch
import torch.nn.functional as F
from torch import nn


class TextCNN(nn.Module):
    def __init__(self, vocab_size: int, dim: int, num_labels: int,
                 kernel_sizes: tuple[int, ...] = (2, 3, 4), channels: int = 16):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, k) for k in kernel_sizes)
        self.proj = nn.Linear(len(kernel_sizes) * channels, num_labels)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.emb(ids).transpose(1, 2)
        feats = [F.relu(conv(e)).amax(dim=-1) for conv in self.convs]
        return self.proj(torch.cat(feats, dim=-1))
