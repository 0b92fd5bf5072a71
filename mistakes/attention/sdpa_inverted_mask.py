"""Your mask is inverted: True must mean "may attend", but you hide the True keys.

zh: 你的掩码反了：True 表示"可以关注"，你却遮住了 True 的位置。
catches: sdpa_reference, sdpa_masking
"""
import math


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    probs = softmax(scores, dim=-1)
    return probs @ v, probs
