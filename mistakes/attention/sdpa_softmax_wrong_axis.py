"""Your softmax runs over the queries (axis -2) instead of the keys (axis -1).

zh: 你的 softmax 作用在查询维（-2）上，而不是键维（-1）。
catches: sdpa_reference, sdpa_masking, self_attention_reference
"""
import math


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = softmax(scores, dim=-2)
    return probs @ v, probs
