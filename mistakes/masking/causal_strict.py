"""Your causal mask hides the diagonal: a query may attend to its own position (j <= i).

zh: 你的因果掩码遮住了对角线：每个位置应当可以关注自己（j <= i）。
catches: causal_mask_pattern, causal_padding_reference, causal_padding_properties
"""
import torch


def causal_mask(L, device=None):
    pos = torch.arange(L, device=device)
    return pos[None, :] < pos[:, None]
