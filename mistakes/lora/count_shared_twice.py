"""Your count_trainable_parameters counts a shared (tied) parameter once for every module that holds it.

zh: 你的 count_trainable_parameters 把共享（绑定）的参数按持有它的模块数重复计数了。
catches: count_trainable_shared
"""


def count_trainable_parameters(model):
    return sum(
        p.numel()
        for module in model.modules()
        for p in module.parameters(recurse=False)
        if p.requires_grad
    )
