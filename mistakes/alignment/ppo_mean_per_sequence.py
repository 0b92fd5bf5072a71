"""Your ppo_clip_loss averages each sequence first and then the sequences: the loss is pooled over all masked-in tokens of the batch.

zh: 你的 ppo_clip_loss 先在每个序列内求平均，再对序列求平均：损失应当对整个 batch 中被选中的词整体平均。
catches: ppo_clip_loss_reference
"""

import torch


def ppo_clip_loss(logp, old_logp, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None]
    term = torch.minimum(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
    per_seq = torch.where(mask, term, 0.0).sum(-1) / mask.sum(-1).clamp(min=1)
    return -per_seq.mean()
