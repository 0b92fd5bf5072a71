"""Your repetition_penalty divides every seen logit by the penalty, which makes a NEGATIVE logit larger (more likely): multiply the negative ones.

zh: 你的 repetition_penalty 把出现过的词的 logit 一律除以 penalty，这会让负的 logit 变大（更可能被选中）：负的应当乘以 penalty。
catches: repetition_penalty_reference, repetition_penalty_behaviour, generate_repetition_penalty
"""

import torch


def repetition_penalty(logits, ids, penalty):
    if penalty <= 0:
        raise ValueError(f"penalty must be > 0, got {penalty}")
    seen = logits.gather(-1, ids)
    return logits.scatter(-1, ids, seen / penalty)
