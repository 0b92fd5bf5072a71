"""Your key mask lines up with the queries ([B, 1, Lk, 1]) instead of the keys ([B, 1, 1, Lk]).

zh: 你的键掩码对齐到了查询维（[B, 1, Lk, 1]），应为键维（[B, 1, 1, Lk]）。
catches: key_padding_reference, causal_padding_reference, causal_padding_properties
"""


def key_padding_to_attention_mask(key_mask):
    return key_mask[:, None, :, None]
