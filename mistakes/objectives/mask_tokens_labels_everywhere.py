"""Your mask_tokens keeps the original id as the label at every position; labels must be -100 where the position was not selected.

zh: 你的 mask_tokens 在所有位置都保留了原词作为标签；没有被选中的位置标签应为 -100。
catches: mask_tokens_structure, mask_tokens_statistics
"""

import torch


def mask_tokens(ids, mask_token_id, vocab_size, mlm_probability=0.15, special_tokens_mask=None,
                generator=None):
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    selected = torch.rand(ids.shape, generator=generator) < mlm_probability
    if special_tokens_mask is not None:
        selected = selected & ~special_tokens_mask
    labels = ids.clone()
    u = torch.rand(ids.shape, generator=generator)
    inputs = ids.masked_fill(selected & (u < 0.8), mask_token_id)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, dtype=ids.dtype)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    return inputs, labels
