"""Your sft_loss averages each sequence first and then averages the sequences; the loss is a mean over all counted response tokens of the batch.

zh: 你的 sft_loss 先在每个序列内求平均，再对序列求平均；应当对整个 batch 中所有被计数的回答词求平均。
catches: sft_loss_reference
"""

import torch


def sft_loss(logits, ids, prompt_lengths, attention_mask=None):
    positions = torch.arange(ids.shape[1], device=ids.device)
    response = positions[None, :] >= prompt_lengths[:, None]
    if attention_mask is not None:
        response = response & attention_mask
    per_sequence = [
        next_token_loss(logits[b:b + 1], ids[b:b + 1], response[b:b + 1])  # noqa: F821
        for b in range(ids.shape[0])
    ]
    return torch.stack(per_sequence).mean()
