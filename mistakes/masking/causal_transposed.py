"""Your causal mask is transposed: it lets queries see the future and hides the past.

zh: 你的因果掩码转置了：查询看到了未来，却看不到过去。
catches: causal_mask_pattern, causal_padding_reference, causal_padding_properties
"""
import torch


def causal_mask(L, device=None):
    return torch.triu(torch.ones(L, L, dtype=torch.bool, device=device))
