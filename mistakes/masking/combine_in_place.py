"""You AND into the first mask in place (`&=`), which changes the caller's tensor.

zh: 你用 `&=` 原地修改了第一个掩码，调用者的张量被改变了。
catches: combine_masks_broadcast
"""


def combine_masks(*masks):
    out = None
    for m in masks:
        if m is None:
            continue
        if out is None:
            out = m
        else:
            out &= m
    return out
