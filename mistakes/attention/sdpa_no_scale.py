"""Your scores are not divided by sqrt(dk).

zh: 你的注意力分数没有除以 sqrt(dk)。
catches: sdpa_reference, self_attention_reference
"""


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = softmax(scores, dim=-1)
    return probs @ v, probs
