"""Your LMHead copies tied_weight into a new Parameter; tying means proj.weight IS tied_weight (the same object).

zh: 你的 LMHead 把 tied_weight 拷贝成了一个新的 Parameter；权重共享要求 proj.weight 就是 tied_weight 这个对象本身。
catches: lm_head_tying
"""

import torch
from torch import nn


class LMHead(nn.Module):
    def __init__(self, d_model: int, vocab_size: int, tied_weight: nn.Parameter | None = None):
        super().__init__()
        self.proj = nn.Linear(d_model, vocab_size, bias=False)
        if tied_weight is not None:
            if tied_weight.shape != (vocab_size, d_model):
                raise ValueError(f"tied_weight has shape {tuple(tied_weight.shape)}")
            self.proj.weight = nn.Parameter(tied_weight.detach().clone())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.proj(h)
