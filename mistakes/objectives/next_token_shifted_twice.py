"""Your next_token_loss shifts by two: position t is scored against the token at t+2.

zh: 你的 next_token_loss 错位了两次：位置 t 的 logits 被拿去预测第 t+2 个词。
catches: next_token_loss_reference, sft_loss_reference
"""


def next_token_loss(logits, ids, attention_mask=None):
    if logits.shape[:-1] != ids.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match ids {tuple(ids.shape)}")
    targets = ids[:, 1:]
    if attention_mask is not None:
        targets = targets.masked_fill(~attention_mask[:, 1:], -100)
    return masked_lm_loss(logits[:, :-2], targets[:, 1:])  # noqa: F821 (defined in the module)
