"""Your split_heads views x straight as (B, H, L, dh), which mixes positions into the heads.

zh: 你的 split_heads 直接把 x view 成 (B, H, L, dh)，把不同位置的特征混进了同一个头；应先 view 成 (B, L, H, dh) 再交换 L 和 H。
catches: split_heads_reference, mha_self_reference, mha_cross_reference, gqa_reference
"""

import torch


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    B, L, D = x.shape
    if D % n_heads != 0:
        raise ValueError(f"the last dim {D} is not divisible by n_heads={n_heads}")
    return x.view(B, n_heads, L, D // n_heads)
