"""Your collate pads the labels with pad_id instead of -100: the padding would be learned as targets.

zh: 你的 collate 用 pad_id 而不是 -100 来补齐 labels：padding 会被当作目标来学习。
catches: collate_reference
"""

import torch


def collate(examples, pad_id):
    L = max(len(ids) for ids, _ in examples)
    B = len(examples)
    out_ids = torch.full((B, L), pad_id, dtype=torch.long)
    out_labels = torch.full((B, L), pad_id, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.bool)
    for b, (ids, labels) in enumerate(examples):
        out_ids[b, : len(ids)] = ids
        out_labels[b, : len(ids)] = labels
        mask[b, : len(ids)] = True
    return out_ids, out_labels, mask
