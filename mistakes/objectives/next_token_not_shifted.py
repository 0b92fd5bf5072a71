"""Your next_token_loss compares the logits at position t with the token AT t instead of the next token at t+1.

zh: 你的 next_token_loss 用位置 t 的 logits 去预测第 t 个词本身，而不是下一个词（第 t+1 个）。
catches: next_token_loss_reference, sft_loss_reference, losses_behaviour
"""


def next_token_loss(logits, ids, attention_mask=None):
    if logits.shape[:-1] != ids.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match ids {tuple(ids.shape)}")
    targets = ids
    if attention_mask is not None:
        targets = targets.masked_fill(~attention_mask, -100)
    return masked_lm_loss(logits, targets)  # noqa: F821 (defined in the module)
