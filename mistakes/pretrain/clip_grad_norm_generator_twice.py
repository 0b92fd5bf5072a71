"""Your clip_grad_norm loops over `parameters` twice (once for the norm, once to scale); model.parameters() is a generator that is empty the second time, so nothing gets clipped. Make a list first.

zh: 你的 clip_grad_norm 遍历了 `parameters` 两次（一次算范数，一次缩放）；model.parameters() 是生成器，第二次遍历时已经空了，所以什么都没有被裁剪。先转成列表。
catches: clip_grad_norm_in_place
"""

import torch


def clip_grad_norm(parameters, max_norm, eps=1e-6):
    total = 0.0
    for p in parameters:
        if p.grad is not None:
            total += (p.grad.double() ** 2).sum().item()
    norm = total ** 0.5
    if norm > max_norm:
        with torch.no_grad():
            for p in parameters:
                if p.grad is not None:
                    p.grad.mul_(max_norm / (norm + eps))
    return norm
