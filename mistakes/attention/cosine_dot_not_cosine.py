"""Your scores are dot products, not cosines: normalise the vectors first.

zh: 你的分数是点积而不是余弦：先把向量归一化。
catches: cosine_attention_reference, cosine_attention_properties
"""


def cosine_attention(E):
    scores = E @ E.transpose(-2, -1)
    return softmax(scores, dim=-1) @ E
