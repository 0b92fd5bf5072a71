"""You turn logit_scale into a Python float (math.exp(float(logit_scale))), which cuts it out of the graph: the learned temperature never gets a gradient.

zh: 你把 logit_scale 变成了 Python 浮点数（math.exp(float(logit_scale))），它就脱离了计算图：可学习的温度永远得不到梯度。
catches: clip_loss_gradients
"""

import math

import torch
import torch.nn.functional as F


def clip_loss(image_emb, text_emb, logit_scale):
    img = image_emb / image_emb.norm(dim=-1, keepdim=True)
    txt = text_emb / text_emb.norm(dim=-1, keepdim=True)
    logits = math.exp(float(logit_scale)) * txt @ img.T
    targets = torch.arange(len(logits))
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
