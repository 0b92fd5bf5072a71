"""A student's helper module for `seq2seq`: turning lists of ids into padded tensors."""

import torch


def pad_rows(rows: list[list[int]], pad: int, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``rows`` to ``length`` (default: the longest): (Long[N, length], Bool[N, length]
    True at the real entries)."""
    length = max(map(len, rows)) if length is None else length
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    real = torch.zeros((len(rows), length), dtype=torch.bool)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.as_tensor(row, dtype=torch.long)
        real[i, :len(row)] = True
    return ids, real
