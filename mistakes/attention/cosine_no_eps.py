"""You divide by the norm without clamping it, so an all-zero word vector gives nan.

zh: 你除以范数时没有设置下限，全零的词向量会得到 nan。
catches: cosine_attention_reference
"""


def cosine_attention(E):
    unit = E / E.norm(dim=-1, keepdim=True)
    scores = unit @ unit.transpose(-2, -1)
    return softmax(scores, dim=-1) @ E
