"""Your TextCNN uses nn.Conv2d filters of shape (channels, 1, k, dim); the contract asks for nn.Conv1d(dim, channels, k).

zh: 你的 TextCNN 使用了形状为 (channels, 1, k, dim) 的 nn.Conv2d；约定是 nn.Conv1d(dim, channels, k)。
catches: textcnn_reference, textcnn_structure
"""
import torch
import torch.nn.functional as F
from torch import nn


class TextCNN(nn.Module):
    def __init__(self, vocab_size: int, dim: int, num_labels: int,
                 kernel_sizes: tuple[int, ...] = (2, 3, 4), channels: int = 16):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, dim)
        self.convs = nn.ModuleList(nn.Conv2d(1, channels, (k, dim)) for k in kernel_sizes)
        self.proj = nn.Linear(len(kernel_sizes) * channels, num_labels)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        longest = max(conv.kernel_size[0] for conv in self.convs)
        if ids.shape[-1] < longest:
            raise ValueError(f"sequence length {ids.shape[-1]} < largest kernel size {longest}")
        e = self.emb(ids).unsqueeze(1)                       # (B, 1, L, dim)
        feats = [F.relu(conv(e)).squeeze(-1).amax(dim=-1) for conv in self.convs]
        return self.proj(torch.cat(feats, dim=-1))
