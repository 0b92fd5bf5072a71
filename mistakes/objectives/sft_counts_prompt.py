"""Your sft_loss also counts the prompt tokens as targets; only the response (positions >= the prompt length) should be learned.

zh: 你的 sft_loss 把 prompt 部分也算进了损失；只应在回答部分（位置 >= prompt 长度）计算损失。
catches: sft_loss_reference, losses_behaviour
"""


def sft_loss(logits, ids, prompt_lengths, attention_mask=None):
    return next_token_loss(logits, ids, attention_mask)  # noqa: F821 (defined in the module)
