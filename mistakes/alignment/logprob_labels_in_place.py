"""Your sequence_logprob overwrites the -100 labels in place (to gather with them): the caller's labels are changed.

zh: 你的 sequence_logprob 原地改写了 -100 的标签（为了用它们 gather）：调用者的 labels 被修改了。
catches: sequence_logprob_behaviour
"""

import torch.nn.functional as F


def sequence_logprob(logits, ids, labels):
    targets = labels[:, 1:]
    counted = targets != -100
    targets[~counted] = 0
    logp = F.log_softmax(logits[:, :-1], dim=-1)
    token_logp = logp.gather(-1, targets[..., None]).squeeze(-1)
    return (token_logp * counted).sum(-1)
