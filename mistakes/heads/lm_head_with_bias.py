"""Your LMHead's proj has a bias; the LM head is nn.Linear(D, V, bias=False), so that it can share the embedding matrix alone.

zh: 你的 LMHead 的 proj 带了偏置；LM Head 是 nn.Linear(D, V, bias=False)，这样才能只与词嵌入共享一个矩阵。
catches: lm_head_reference, lm_head_tying
"""

import torch
from torch import nn


class LMHead(nn.Module):
    def __init__(self, d_model: int, vocab_size: int, tied_weight: nn.Parameter | None = None):
        super().__init__()
        self.proj = nn.Linear(d_model, vocab_size)
        if tied_weight is not None:
            self.proj.weight = tied_weight

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.proj(h)
