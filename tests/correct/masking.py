"""masking written another way: causal_mask with torch.tril of a ones matrix; padding_mask by
expanding a row of positions against unsqueezed lengths (validated with a logical_or of the two
bad cases); key_padding_to_attention_mask with reshape; combine_masks as functools.reduce of
torch.logical_and starting from a True scalar (always a new tensor); causal_padding_mask from
the formula (j <= i) & (j < lengths[b]) directly, without calling the other helpers."""

from functools import reduce

import torch


def causal_mask(L, device=None):
    return torch.tril(torch.ones(L, L, dtype=torch.bool, device=device))


def padding_mask(lengths, max_len):
    bad = torch.logical_or(lengths < 0, lengths > max_len)
    if bool(bad.any()):
        raise ValueError(f"every length must be in [0, {max_len}]; got {lengths.tolist()}")
    positions = torch.arange(max_len, device=lengths.device).expand(lengths.shape[0], max_len)
    return positions < lengths.unsqueeze(-1)


def key_padding_to_attention_mask(key_mask):
    B, Lk = key_mask.shape
    return key_mask.reshape(B, 1, 1, Lk)


def combine_masks(*masks):
    present = [m for m in masks if m is not None]
    if not present:
        return None
    return reduce(torch.logical_and, present, torch.tensor(True, device=present[0].device))


def causal_padding_mask(lengths, L):
    if bool(((lengths < 0) | (lengths > L)).any()):
        raise ValueError(f"lengths must be between 0 and L={L}, got {lengths.tolist()}")
    i = torch.arange(L, device=lengths.device).view(1, 1, L, 1)
    j = torch.arange(L, device=lengths.device).view(1, 1, 1, L)
    return (j <= i) & (j < lengths.view(-1, 1, 1, 1))
