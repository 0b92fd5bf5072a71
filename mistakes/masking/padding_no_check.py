"""You do not reject lengths outside [0, max_len] with a ValueError.

zh: 长度超出 [0, max_len] 时你没有抛出 ValueError。
catches: padding_mask_lengths, causal_padding_properties
"""
import torch


def padding_mask(lengths, max_len):
    pos = torch.arange(max_len)
    return pos[None, :] < lengths[:, None]
