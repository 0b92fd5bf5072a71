"""Your next_token_loss masks with attention_mask[:, :-1] (the inputs) instead of attention_mask[:, 1:] (the targets).

zh: 你的 next_token_loss 用 attention_mask[:, :-1]（输入位置）而不是 attention_mask[:, 1:]（目标位置）来屏蔽，于是第一个 padding 被当成了目标。
catches: next_token_loss_reference, sft_loss_reference
"""


def next_token_loss(logits, ids, attention_mask=None):
    if logits.shape[:-1] != ids.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match ids {tuple(ids.shape)}")
    targets = ids[:, 1:]
    if attention_mask is not None:
        targets = targets.masked_fill(~attention_mask[:, :-1], -100)
    return masked_lm_loss(logits[:, :-1], targets)  # noqa: F821 (defined in the module)
