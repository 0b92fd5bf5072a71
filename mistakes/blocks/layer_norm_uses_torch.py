"""Your layer_norm calls F.layer_norm, which this exercise asks you to implement yourself.

zh: 你的 layer_norm 直接调用了 F.layer_norm，本练习要求自己实现（减均值、除以 sqrt(方差 + eps)）。
catches: banned_apis, layer_norm_reference
"""

import torch
import torch.nn.functional as F


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)
