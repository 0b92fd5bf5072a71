"""Your repetition_penalty writes into the logits it was given (scatter_ in place) and accepts penalty <= 0.

zh: 你的 repetition_penalty 直接修改了传入的 logits（原地 scatter_），并且接受 penalty <= 0。
catches: repetition_penalty_behaviour
"""

import torch


def repetition_penalty(logits, ids, penalty):
    seen = logits.gather(-1, ids)
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter_(-1, ids, seen)
