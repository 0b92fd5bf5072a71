"""You compute in float32 (`.float()`), so float64 inputs come back as float32.

zh: 你用 `.float()` 在 float32 下计算，float64 输入返回了 float32。
catches: sdpa_reference, sdpa_behaviour
"""
import math


def scaled_dot_product_attention(q, k, v, mask=None):
    q, k, v = q.float(), k.float(), v.float()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = softmax(scores, dim=-1)
    return probs @ v, probs
