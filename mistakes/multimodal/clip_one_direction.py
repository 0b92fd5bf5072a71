"""Your clip_loss only counts one direction (each caption choosing its picture); CLIP averages it with the other direction (each picture choosing its caption): the cross-entropy over the columns too.

zh: 你的 clip_loss 只算了一个方向（每个文字选图片）；CLIP 还要加上另一个方向（每张图片选文字，即对列的交叉熵），再取平均。
catches: clip_loss_reference, clip_loss_gradients, clip_loss_properties
"""

import math

import torch
import torch.nn.functional as F


def clip_loss(image_emb, text_emb, logit_scale):
    img = image_emb / image_emb.norm(dim=-1, keepdim=True)
    txt = text_emb / text_emb.norm(dim=-1, keepdim=True)
    scale = logit_scale.exp() if torch.is_tensor(logit_scale) else math.exp(logit_scale)
    logits = scale * txt @ img.T
    return F.cross_entropy(logits, torch.arange(len(logits)))
