"""Your cross_entropy computes log(sum(exp(logits))) without subtracting the row maximum first, so exp() overflows to inf for large logits (1e4) and the loss is inf or NaN.

zh: 你的 cross_entropy 直接计算 log(sum(exp(logits)))，没有先减去每行的最大值，所以 logits 很大（1e4）时 exp() 溢出为 inf，损失变成 inf 或 NaN。
catches: cross_entropy_reference, cross_entropy_properties
"""


def cross_entropy(logits, targets):
    if logits.shape[:-1] != targets.shape:
        raise ValueError("logits and targets do not match")
    z = logits.reshape(-1, logits.shape[-1])
    t = targets.reshape(-1, 1)
    nll = z.exp().sum(dim=-1).log() - z.gather(-1, t).squeeze(-1)
    return nll.sum() / max(nll.numel(), 1)
