"""Your mask_tokens writes [MASK] into the ids you were given (in place); build new tensors and leave ids unchanged.

zh: 你的 mask_tokens 直接在传入的 ids 上写入了 [MASK]（原地修改）；应当创建新的张量，保持 ids 不变。
catches: mask_tokens_structure
"""

import torch


def mask_tokens(ids, mask_token_id, vocab_size, mlm_probability=0.15, special_tokens_mask=None,
                generator=None):
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    selected = torch.rand(ids.shape, generator=generator) < mlm_probability
    if special_tokens_mask is not None:
        selected &= ~special_tokens_mask
    labels = ids.clone()
    labels[~selected] = -100
    u = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator, dtype=ids.dtype)
    inputs = ids
    inputs[selected & (u < 0.8)] = mask_token_id
    use_random = selected & (u >= 0.8) & (u < 0.9)
    inputs[use_random] = random_ids[use_random]
    return inputs, labels
