"""Your softmax always normalises the last axis and ignores `dim`.

zh: 你的 softmax 总是在最后一维归一化，忽略了 `dim` 参数。
catches: softmax_reference
"""


def softmax(x, dim=-1):
    shifted = x - x.amax(dim=-1, keepdim=True)
    e = shifted.exp()
    return e / e.sum(dim=-1, keepdim=True)
