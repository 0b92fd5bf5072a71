"""Your padding mask is inverted: True must mark the real tokens, not the padding.

zh: 你的填充掩码反了：True 应当标记真实的词，而不是填充。
catches: padding_mask_lengths, causal_padding_reference, causal_padding_properties
"""
import torch


def padding_mask(lengths, max_len):
    if lengths.numel() and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError("bad lengths")
    pos = torch.arange(max_len)
    return pos[None, :] >= lengths[:, None]
