"""Your masked_lm_loss divides by every position (B·L) instead of by the number of masked positions.

zh: 你的 masked_lm_loss 除以了所有位置的个数 B·L，而不是被遮住（标签不是 -100）的位置个数。
catches: masked_lm_loss_reference, next_token_loss_reference, sft_loss_reference
"""

import torch.nn.functional as F


def masked_lm_loss(logits, labels):
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}")
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum"
    )
    return total / labels.numel()
