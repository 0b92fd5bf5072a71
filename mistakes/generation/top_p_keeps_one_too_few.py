"""Your top_p_filter removes the token whose probability takes the total past top_p (descending cumsum > top_p without shifting by one), so the kept tokens hold less than top_p.

zh: 你的 top_p_filter 把使累计概率超过 top_p 的那个词也去掉了（降序累加 cumsum > top_p 时没有右移一位），保留下来的概率之和不足 top_p。
catches: top_p_reference, top_p_properties, generate_sampling_statistics
"""

import torch


def top_p_filter(logits, top_p):
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_p == 1:
        return logits.clone()
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cum > top_p
    remove_sorted[..., 0] = False
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))
