"""Your softmax crashes on an empty axis (x.amax over a dimension of size 0 raises); it must return an empty result of the same shape.

zh: 你的 softmax 在长度为 0 的维度上崩溃（对大小为 0 的维度做 x.amax 会报错）；应返回同形状的空结果。
catches: softmax_properties
"""

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    shifted = x - x.amax(dim=dim, keepdim=True)
    e = shifted.exp()
    return e / e.sum(dim=dim, keepdim=True)
