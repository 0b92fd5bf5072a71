"""Your mask_tokens draws from torch's global random generator instead of the generator it was given, so a seeded generator does not make it repeatable.

zh: 你的 mask_tokens 使用了 torch 的全局随机数生成器，而不是传入的 generator，所以固定种子也无法复现结果。
catches: mask_tokens_generator
"""

import torch


def mask_tokens(ids, mask_token_id, vocab_size, mlm_probability=0.15, special_tokens_mask=None,
                generator=None):
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    selected = torch.rand(ids.shape) < mlm_probability
    if special_tokens_mask is not None:
        selected = selected & ~special_tokens_mask
    labels = ids.masked_fill(~selected, -100)
    u = torch.rand(ids.shape)
    inputs = ids.masked_fill(selected & (u < 0.8), mask_token_id)
    random_ids = torch.randint(vocab_size, ids.shape, dtype=ids.dtype)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    return inputs, labels
