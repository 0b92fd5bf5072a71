"""Your repeat_kv tiles the kv heads (0,1,..,0,1,..) instead of repeating each in place (0,0,..,1,1,..).

zh: 你的 repeat_kv 把 K/V 头整体平铺（0,1,..,0,1,..），而不是每个头原地重复（0,0,..,1,1,..），查询头配错了 K/V 头。
catches: repeat_kv_reference, gqa_reference
"""

import torch


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    if n_rep < 1:
        raise ValueError(f"n_rep must be >= 1, got {n_rep}")
    return x.repeat(1, n_rep, 1, 1)
