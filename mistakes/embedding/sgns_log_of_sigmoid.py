"""Your sgns_loss computes log(sigmoid(x)), which is log(0) = -inf for large dot products; use F.logsigmoid.

zh: 你的 sgns_loss 写成了 log(sigmoid(x))，点积很大时变成 log(0) = -inf；请使用 F.logsigmoid 这类稳定写法。
catches: sgns_loss_stable
"""
import torch


def sgns_loss(center: torch.Tensor, context: torch.Tensor,
              negatives: torch.Tensor) -> torch.Tensor:
    if center.shape[0] == 0:
        return center.new_zeros(())
    pos = (center * context).sum(dim=-1)
    neg = (negatives @ center.unsqueeze(-1)).squeeze(-1)
    return -(torch.log(torch.sigmoid(pos)) + torch.log(torch.sigmoid(-neg)).sum(dim=-1)).mean()
