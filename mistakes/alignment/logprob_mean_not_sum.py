"""Your sequence_logprob averages the token log-probabilities: the log-probability of a whole answer is their SUM.

zh: 你的 sequence_logprob 对词的对数概率求了平均：整个回答的对数概率是它们的和。
catches: sequence_logprob_reference
"""

import torch
import torch.nn.functional as F


def sequence_logprob(logits, ids, labels):
    logp = F.log_softmax(logits[:, :-1], dim=-1)
    token_logp = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    counted = labels[:, 1:] != -100
    return torch.where(counted, token_logp, 0.0).sum(-1) / counted.sum(-1).clamp(min=1)
