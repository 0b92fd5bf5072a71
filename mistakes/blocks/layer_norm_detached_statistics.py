"""Your layer_norm detaches the mean and variance (.detach()): the output is right, but no gradient flows through the statistics.

zh: 你的 layer_norm 对均值和方差调用了 .detach()：输出正确，但梯度不再经过这些统计量。
catches: layer_norm_reference
"""

import torch


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True).detach()
    var = x.var(dim=-1, keepdim=True, unbiased=False).detach()
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
