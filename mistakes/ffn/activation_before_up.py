"""Your FeedForward applies the activation to the input before the up projection instead of between up and down.

zh: 你的前馈网络在 up 之前就对输入做了激活；激活函数应放在 up 与 down 之间：down(f(up(x)))。
catches: feedforward_reference
"""

import torch
import torch.nn.functional as F
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int | None = None, activation: str = "relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.activation = activation
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(x) if self.activation == "gelu" else F.relu(x)
        return self.down(self.up(x))
