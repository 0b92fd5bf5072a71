"""Your sequence_logprob scores ids[:, t] with the logits at t: the logits at position t predict the NEXT token, ids[:, t+1].

zh: 你的 sequence_logprob 用位置 t 的 logits 给 ids[:, t] 打分：位置 t 的 logits 预测的是下一个词 ids[:, t+1]。
catches: sequence_logprob_reference
"""

import torch
import torch.nn.functional as F


def sequence_logprob(logits, ids, labels):
    logp = F.log_softmax(logits, dim=-1)
    token_logp = logp.gather(-1, ids[..., None]).squeeze(-1)
    return torch.where(labels != -100, token_logp, 0.0).sum(-1)
