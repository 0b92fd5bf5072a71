"""Your ffn_param_count leaves out the two bias vectors (d_ff + d_model) when bias is True.

zh: 你的 ffn_param_count 在 bias=True 时漏算了两个偏置向量（d_ff + d_model 个参数）。
catches: ffn_param_count_values
"""


def ffn_param_count(d_model: int, d_ff: int | None = None, bias: bool = True) -> int:
    d_ff = 4 * d_model if d_ff is None else d_ff
    return 2 * d_model * d_ff
