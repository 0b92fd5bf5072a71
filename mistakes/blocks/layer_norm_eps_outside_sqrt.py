"""Your layer_norm adds eps after the square root (sqrt(var) + eps); it belongs inside: sqrt(var + eps).

zh: 你的 layer_norm 把 eps 加在了开方之后（sqrt(var) + eps）；应加在根号里面：sqrt(var + eps)。
catches: layer_norm_reference
"""

import torch


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / (torch.sqrt(var) + eps) * weight + bias
