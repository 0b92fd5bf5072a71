"""Your skipgram_pairs are ordered by offset first; order them by center position, then context position.

zh: 你的 skipgram_pairs 先按偏移量排序；应先按中心词位置、再按上下文位置排序。
catches: skipgram_pairs_reference, skipgram_pairs_properties
"""
import torch


def skipgram_pairs(ids: torch.Tensor, window: int) -> torch.Tensor:
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    T = len(ids)
    pairs = []
    for off in [*range(-window, 0), *range(1, window + 1)]:
        for i in range(T):
            if 0 <= i + off < T:
                pairs.append([int(ids[i]), int(ids[i + off])])
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2)
