"""Your collate pads on the left: the course's batches are right-padded (each example starts at position 0).

zh: 你的 collate 在左边补齐：课程的 batch 向右补齐（每个样本从位置 0 开始）。
catches: collate_reference
"""

import torch


def collate(examples, pad_id):
    L = max(len(ids) for ids, _ in examples)
    B = len(examples)
    out_ids = torch.full((B, L), pad_id, dtype=torch.long)
    out_labels = torch.full((B, L), -100, dtype=torch.long)
    mask = torch.zeros((B, L), dtype=torch.bool)
    for b, (ids, labels) in enumerate(examples):
        out_ids[b, L - len(ids):] = ids
        out_labels[b, L - len(ids):] = labels
        mask[b, L - len(ids):] = True
    return out_ids, out_labels, mask
