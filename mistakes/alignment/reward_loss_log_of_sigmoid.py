"""Your reward_model_loss computes log(sigmoid(x)): for large differences σ rounds to 0 and the loss becomes inf; use F.logsigmoid.

zh: 你的 reward_model_loss 计算了 log(sigmoid(x))：差值很大时 σ 舍入成 0，损失变成 inf；请使用 F.logsigmoid。
catches: reward_model_loss_stable
"""

import torch


def reward_model_loss(chosen, rejected, margin=None):
    diff = chosen - rejected
    if margin is not None:
        diff = diff - margin
    return -torch.log(torch.sigmoid(diff)).mean()
