"""Your merge_heads flattens (H, L, dh) without first moving the head axis back behind L.

zh: 你的 merge_heads 没有先把头的维度换回序列维之后，就直接 reshape 拼接了。
catches: merge_heads_reference, mha_self_reference, mha_cross_reference, gqa_reference
"""

import torch


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, H, L, dh = x.shape
    return x.reshape(B, L, H * dh)
