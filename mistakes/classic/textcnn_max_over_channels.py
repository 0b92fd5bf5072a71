"""Your TextCNN takes the max over channels instead of over time.

zh: 你的 TextCNN 在通道维而不是时间维上取最大值。
catches: textcnn_reference
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
        longest = max(conv.kernel_size[0] for conv in self.convs)
        if ids.shape[-1] < longest:
            raise ValueError(f"sequence length {ids.shape[-1]} < largest kernel size {longest}")
        e = self.emb(ids).transpose(1, 2)
        feats = [F.relu(conv(e)).amax(dim=1) for conv in self.convs]
        return self.proj(torch.cat(feats, dim=-1))
