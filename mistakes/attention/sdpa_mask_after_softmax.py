"""You apply the mask after the softmax, so the remaining probabilities no longer sum to 1.

zh: 你在 softmax 之后才施加掩码，剩下的概率之和不再为 1。
catches: sdpa_reference, sdpa_masking
"""
import math


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    probs = softmax(scores, dim=-1)
    if mask is not None:
        probs = probs.masked_fill(~mask, 0.0)
    return probs @ v, probs
