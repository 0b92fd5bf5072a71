"""Your sft_loss does not count the first response token (the one predicted from the last prompt position).

zh: 你的 sft_loss 没有计算回答的第一个词（它由 prompt 的最后一个位置预测）。
catches: sft_loss_reference
"""

import torch


def sft_loss(logits, ids, prompt_lengths, attention_mask=None):
    positions = torch.arange(ids.shape[1], device=ids.device)
    response = positions[None, :] > prompt_lengths[:, None]
    if attention_mask is not None:
        response = response & attention_mask
    return next_token_loss(logits, ids, response)  # noqa: F821 (defined in the module)
