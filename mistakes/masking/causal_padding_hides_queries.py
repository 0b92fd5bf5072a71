"""Your padding hides queries (rows) instead of keys (columns).

zh: 你的填充遮住了查询（行）而不是键（列）。
catches: causal_padding_reference, causal_padding_properties
"""


def causal_padding_mask(lengths, L):
    rows = padding_mask(lengths, L)[:, None, :, None]  # noqa: F821
    return combine_masks(causal_mask(L), rows)  # noqa: F821
