"""Your clip_grad_norm multiplies the gradients by max_norm / (norm + eps) even when the norm is already below max_norm, which makes small gradients larger; scale only when norm > max_norm.

zh: 你的 clip_grad_norm 在范数已经小于 max_norm 时也把梯度乘以 max_norm / (norm + eps)，反而把小梯度放大了；只有 norm > max_norm 时才缩放。
catches: clip_grad_norm_value
"""


def clip_grad_norm(parameters, max_norm, eps=1e-6):
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norm = sum((g.double() ** 2).sum() for g in grads).sqrt().item()
    for g in grads:
        g.mul_(max_norm / (norm + eps))
    return norm
