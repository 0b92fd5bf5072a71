"""Your group_advantages gives NaN for groups of one answer: the std of a single value is NaN; such a group's advantage is 0.

zh: 你的 group_advantages 对只有一个回答的组给出 NaN：单个值的标准差是 NaN；这样的组优势为 0。
catches: group_advantages_reference, group_advantages_behaviour
"""

import warnings


def group_advantages(rewards, group_size, normalize_std=True, eps=1e-4):
    n = rewards.shape[0]
    if group_size < 1 or n % group_size != 0:
        raise ValueError("rewards do not split into groups")
    groups = rewards.reshape(n // group_size, group_size)
    adv = groups - groups.mean(-1, keepdim=True)
    if normalize_std:
        with warnings.catch_warnings():  # torch warns about the std of one value (and returns NaN)
            warnings.simplefilter("ignore")
            adv = adv / (groups.std(-1, keepdim=True) + eps)
    return adv.reshape(n)
