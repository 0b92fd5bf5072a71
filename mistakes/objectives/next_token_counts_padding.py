"""Your next_token_loss ignores attention_mask, so the model is also trained to predict padding.

zh: 你的 next_token_loss 忽略了 attention_mask，padding 也被当成了要预测的目标。
catches: next_token_loss_reference, sft_loss_reference
"""

import torch.nn.functional as F


def next_token_loss(logits, ids, attention_mask=None):
    if logits.shape[:-1] != ids.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match ids {tuple(ids.shape)}")
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
