"""Your top_p_filter accepts a top_p outside (0, 1] and, at top_p = 1, still removes tokens whose probability rounds to 0.

zh: 你的 top_p_filter 接受 (0, 1] 以外的 top_p，并且 top_p = 1 时仍会去掉概率舍入为 0 的词。
catches: top_p_behaviour
"""

import torch


def top_p_filter(logits, top_p):
    sorted_logits, order = logits.sort(dim=-1)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cum <= 1 - top_p
    remove_sorted[..., -1] = False
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))
