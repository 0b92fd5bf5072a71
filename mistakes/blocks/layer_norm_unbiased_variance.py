"""Your layer_norm uses the unbiased variance (divide by D - 1); LayerNorm divides by D.

zh: 你的 layer_norm 用了无偏方差（除以 D - 1）；LayerNorm 用有偏方差（除以 D）。
catches: layer_norm_reference
"""

import torch


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
