"""Your dpo_loss returns rewards that still carry the graph: detach them, they are for logging and accuracy only.

zh: 你的 dpo_loss 返回的奖励仍然带着计算图：请 detach，它们只用于记录和计算准确率。
catches: dpo_loss_gradients
"""

import torch.nn.functional as F


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=0.1):
    chosen_rewards = beta * (policy_chosen - ref_chosen)
    rejected_rewards = beta * (policy_rejected - ref_rejected)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards, rejected_rewards
