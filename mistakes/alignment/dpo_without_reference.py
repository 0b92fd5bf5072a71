"""Your dpo_loss ignores the reference: the implicit reward is β·(log π - log π_ref), measured against where the policy started.

zh: 你的 dpo_loss 忽略了参考模型：隐式奖励是 β·(log π - log π_ref)，是相对策略起点来衡量的。
catches: dpo_loss_reference
"""

import torch.nn.functional as F


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=0.1):
    chosen_rewards = beta * policy_chosen
    rejected_rewards = beta * policy_rejected
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards.detach(), rejected_rewards.detach()
