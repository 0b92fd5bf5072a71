"""Your clip_loss uses plain dot products: the embeddings must be normalised to length 1 first, so that the logits are exp(logit_scale) times cosine similarities.

zh: 你的 clip_loss 直接用了点积：应先把向量归一化为单位长度，logits 才是 exp(logit_scale) 乘以余弦相似度。
catches: clip_loss_reference, clip_loss_gradients, clip_loss_properties
"""

import math

import torch
import torch.nn.functional as F


def clip_loss(image_emb, text_emb, logit_scale):
    scale = logit_scale.exp() if torch.is_tensor(logit_scale) else math.exp(logit_scale)
    logits = scale * text_emb @ image_emb.T
    targets = torch.arange(len(logits))
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
