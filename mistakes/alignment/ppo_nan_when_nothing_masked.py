"""Your ppo_clip_loss divides by the number of masked-in tokens without a floor: with none it returns NaN instead of 0.0.

zh: 你的 ppo_clip_loss 直接除以被选中的词数：一个都没有时返回 NaN，而不是 0.0。
catches: ppo_clip_loss_behaviour, ppo_clip_loss_reference
"""

import torch


def ppo_clip_loss(logp, old_logp, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None]
    term = torch.minimum(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)
    return -term[mask].mean()
