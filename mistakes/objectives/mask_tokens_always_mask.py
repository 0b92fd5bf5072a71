"""Your mask_tokens replaces every selected position with [MASK]; BERT uses [MASK] 80% of the time, a random id 10%, and keeps the original 10%.

zh: 你的 mask_tokens 把所有被选中的位置都换成了 [MASK]；BERT 是 80% 换成 [MASK]、10% 换成随机词、10% 保持不变。
catches: mask_tokens_statistics
"""

import torch


def mask_tokens(ids, mask_token_id, vocab_size, mlm_probability=0.15, special_tokens_mask=None,
                generator=None):
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    selected = torch.rand(ids.shape, generator=generator) < mlm_probability
    if special_tokens_mask is not None:
        selected = selected & ~special_tokens_mask
    labels = ids.masked_fill(~selected, -100)
    inputs = ids.masked_fill(selected, mask_token_id)
    return inputs, labels
