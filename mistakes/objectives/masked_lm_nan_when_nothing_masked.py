"""Your masked_lm_loss returns NaN when no position is masked (the mean of nothing); it must return exactly 0.0.

zh: 没有任何被遮住的位置时，你的 masked_lm_loss 返回 NaN（对空集求平均）；应当恰好返回 0.0。
catches: masked_lm_loss_reference, losses_behaviour
"""

import torch.nn.functional as F


def masked_lm_loss(logits, labels):
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
