"""Your cosine_lr warms up with max_lr * (step + 1) / warmup_steps; the contract's warmup is max_lr * step / warmup_steps (0 at step 0, max_lr at step == warmup_steps).

zh: 你的 cosine_lr 预热时用的是 max_lr * (step + 1) / warmup_steps；约定的预热是 max_lr * step / warmup_steps（第 0 步为 0，step == warmup_steps 时为 max_lr）。
catches: cosine_lr_reference, cosine_lr_curve
"""

import math


def cosine_lr(step, max_lr, min_lr, warmup_steps, total_steps):
    if total_steps < warmup_steps:
        raise ValueError("total_steps must be >= warmup_steps")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return float(min_lr)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
