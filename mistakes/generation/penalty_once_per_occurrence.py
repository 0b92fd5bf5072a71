"""Your repetition_penalty penalises a token once for every time it occurs in ids; it should be penalised once, however often it occurs.

zh: 你的 repetition_penalty 对一个词出现几次就惩罚几次；无论出现几次都只应惩罚一次。
catches: repetition_penalty_reference, repetition_penalty_behaviour, generate_sampling_statistics
"""

import torch


def repetition_penalty(logits, ids, penalty):
    if penalty <= 0:
        raise ValueError(f"penalty must be > 0, got {penalty}")
    out = logits.clone()
    for b in range(ids.shape[0]):
        for t in ids[b].tolist():
            v = out[b, t]
            out[b, t] = v / penalty if v > 0 else v * penalty
    return out
