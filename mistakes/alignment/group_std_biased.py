"""Your group_advantages divides by the biased std (unbiased=False): GRPO uses the unbiased one, torch's default.

zh: 你的 group_advantages 除以有偏标准差（unbiased=False）：GRPO 使用无偏标准差，即 torch 的默认值。
catches: group_advantages_reference
"""


def group_advantages(rewards, group_size, normalize_std=True, eps=1e-4):
    n = rewards.shape[0]
    if group_size < 1 or n % group_size != 0:
        raise ValueError("rewards do not split into groups")
    groups = rewards.reshape(n // group_size, group_size)
    adv = groups - groups.mean(-1, keepdim=True)
    if normalize_std and group_size > 1:
        adv = adv / (groups.std(-1, unbiased=False, keepdim=True) + eps)
    return adv.reshape(n)
