"""You combine masks with OR; both conditions must hold, so it is AND.

zh: 你用"或"组合掩码；两个条件都要满足，应当用"与"。
catches: combine_masks_broadcast, causal_padding_reference, causal_padding_properties
"""


def combine_masks(*masks):
    out = None
    for m in masks:
        if m is not None:
            out = m.clone() if out is None else out | m
    return out
