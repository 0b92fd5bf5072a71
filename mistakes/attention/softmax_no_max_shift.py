"""Your softmax exponentiates without subtracting the max, so large inputs overflow to inf/nan.

zh: 你的 softmax 没有先减去最大值，输入较大时 exp 溢出为 inf/nan。
catches: softmax_reference, softmax_properties
"""


def softmax(x, dim=-1):
    e = x.exp()
    return e / e.sum(dim=dim, keepdim=True)
