"""Your default inner width is 2 * d_model; the lecture (and the contract) use 4 * d_model.

zh: 你的 d_ff 默认值是 2 * d_model；课程与接口约定的默认值是 4 * d_model。
catches: feedforward_reference, feedforward_structure, ffn_param_count_values
"""

import torch
import torch.nn.functional as F
from torch import nn


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int | None = None, activation: str = "relu"):
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        d_ff = 2 * d_model if d_ff is None else d_ff
        self.activation = activation
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(x)
        h = F.gelu(h) if self.activation == "gelu" else F.relu(h)
        return self.down(h)


def ffn_param_count(d_model: int, d_ff: int | None = None, bias: bool = True) -> int:
    d_ff = 2 * d_model if d_ff is None else d_ff
    count = 2 * d_model * d_ff
    if bias:
        count += d_ff + d_model
    return count
