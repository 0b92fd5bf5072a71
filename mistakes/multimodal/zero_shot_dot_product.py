"""Your zero_shot_classify ranks classes by dot product: a class embedding that happens to be long wins too often; compare by cosine (normalise the class embeddings).

zh: 你的 zero_shot_classify 按点积给类别排序：长度较大的类别向量会赢得太多；应按余弦相似度比较（把类别向量归一化）。
catches: zero_shot_reference, zero_shot_behaviour
"""


def zero_shot_classify(image_emb, class_emb):
    return (image_emb @ class_emb.T).argmax(dim=-1)
