"""Your reward_model_loss adds the margin instead of subtracting it: the chosen reward must win BY the margin, σ(chosen - rejected - margin).

zh: 你的 reward_model_loss 把 margin 加上了而不是减去：chosen 的奖励要至少领先 margin，即 σ(chosen - rejected - margin)。
catches: reward_model_loss_reference
"""

import torch.nn.functional as F


def reward_model_loss(chosen, rejected, margin=None):
    diff = chosen - rejected
    if margin is not None:
        diff = diff + margin
    return -F.logsigmoid(diff).mean()
