"""Your skipgram_pairs stops one word short: context must include words exactly `window` positions away.

zh: 你的 skipgram_pairs 少取了一个词：距离恰好为 window 的词也是上下文。
catches: skipgram_pairs_reference, skipgram_pairs_properties
"""
import torch


def skipgram_pairs(ids: torch.Tensor, window: int) -> torch.Tensor:
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    pairs = []
    T = len(ids)
    for i in range(T):
        for j in range(max(0, i - window + 1), min(T, i + window)):
            if j != i:
                pairs.append([int(ids[i]), int(ids[j])])
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2)
