"""Your group_advantages does not check that N is a multiple of group_size: it should raise ValueError rather than fail inside reshape.

zh: 你的 group_advantages 没有检查 N 是否是 group_size 的倍数：应当抛出 ValueError，而不是在 reshape 里出错。
catches: group_advantages_behaviour
"""


def group_advantages(rewards, group_size, normalize_std=True, eps=1e-4):
    groups = rewards.reshape(-1, group_size)
    adv = groups - groups.mean(-1, keepdim=True)
    if normalize_std and group_size > 1:
        adv = adv / (groups.std(-1, keepdim=True) + eps)
    return adv.reshape(-1)
