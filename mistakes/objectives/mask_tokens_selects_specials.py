"""Your mask_tokens also selects special tokens ([CLS], [SEP], padding); positions in special_tokens_mask must never be selected.

zh: 你的 mask_tokens 也会选中特殊词（[CLS]、[SEP]、padding）；special_tokens_mask 为 True 的位置永远不能被选中。
catches: mask_tokens_structure, mask_tokens_statistics
"""

import torch


def mask_tokens(ids, mask_token_id, vocab_size, mlm_probability=0.15, special_tokens_mask=None,
                generator=None):
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    selected = torch.rand(ids.shape, generator=generator) < mlm_probability
    labels = ids.masked_fill(~selected, -100)
    u = torch.rand(ids.shape, generator=generator)
    inputs = ids.masked_fill(selected & (u < 0.8), mask_token_id)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, dtype=ids.dtype)
    inputs = torch.where(selected & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    return inputs, labels
