"""You multiply the similarities by logit_scale itself; logit_scale is the LOG of the inverse temperature, so the factor is exp(logit_scale).

zh: 你直接把相似度乘以 logit_scale；logit_scale 是逆温度的对数，乘的应当是 exp(logit_scale)。
catches: clip_loss_reference, clip_loss_gradients
"""

import torch
import torch.nn.functional as F


def clip_loss(image_emb, text_emb, logit_scale):
    img = image_emb / image_emb.norm(dim=-1, keepdim=True)
    txt = text_emb / text_emb.norm(dim=-1, keepdim=True)
    logits = logit_scale * txt @ img.T
    targets = torch.arange(len(logits))
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
