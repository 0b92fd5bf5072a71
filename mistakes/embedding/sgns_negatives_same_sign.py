"""Your sgns_loss uses log σ(c·n) for the negatives; they must be pushed away with log σ(-c·n).

zh: 你的 sgns_loss 对负样本用了 log σ(c·n)；负样本应当用 log σ(-c·n) 推远。
catches: sgns_loss_reference, sgns_loss_stable
"""
import torch
import torch.nn.functional as F


def sgns_loss(center: torch.Tensor, context: torch.Tensor,
              negatives: torch.Tensor) -> torch.Tensor:
    if center.shape[0] == 0:
        return center.new_zeros(())
    pos = (center * context).sum(dim=-1)
    neg = (negatives @ center.unsqueeze(-1)).squeeze(-1)
    return -(F.logsigmoid(pos) + F.logsigmoid(neg).sum(dim=-1)).mean()
