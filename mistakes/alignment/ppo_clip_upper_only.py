"""Your ppo_clip_loss clips the ratio only from above (at 1 + eps): for A < 0 it must also be clipped at 1 - eps.

zh: 你的 ppo_clip_loss 只在上方（1 + eps）裁剪了概率比：A < 0 时还要在 1 - eps 处裁剪。
catches: ppo_clip_loss_reference, ppo_clip_loss_behaviour
"""

import torch


def ppo_clip_loss(logp, old_logp, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None]
    term = torch.minimum(ratio * adv, ratio.clamp(max=1 + clip_eps) * adv)
    return -torch.where(mask, term, 0.0).sum() / mask.sum().clamp(min=1)
