"""You scale q in place (q /= sqrt(dk)), which changes the caller's tensor.

zh: 你原地修改了 q（q /= sqrt(dk)），调用者的张量被改变了。
catches: sdpa_behaviour
"""
import math


def scaled_dot_product_attention(q, k, v, mask=None):
    q.div_(math.sqrt(q.shape[-1]))
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = softmax(scores, dim=-1)
    return probs @ v, probs
