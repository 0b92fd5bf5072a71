"""masking written a second other way: causal_mask as the running sum of an identity matrix down
the rows (row i has ones in columns 0..i); padding_mask validated and filled row by row in a
Python loop over lengths.tolist(); key_padding_to_attention_mask returns a fresh copy (torch.stack
of the one mask, then unsqueeze), not a view; combine_masks broadcasts every mask with
torch.broadcast_tensors, stacks them and takes .all() over the stack (one mask alone: a copy of
it); causal_padding_mask validates through padding_mask and uses j < min(i + 1, lengths[b])
(the same as j <= i and j < lengths[b]) with torch.minimum."""

import torch


def causal_mask(L, device=None):
    return torch.eye(L, dtype=torch.int64, device=device).cumsum(dim=0) > 0


def padding_mask(lengths, max_len):
    values = [int(n) for n in lengths.tolist()]
    for b, n in enumerate(values):
        if not 0 <= n <= max_len:
            raise ValueError(f"padding_mask: lengths[{b}] = {n} is outside [0, {max_len}]")
    out = torch.zeros(len(values), max_len, dtype=torch.bool, device=lengths.device)
    for b, n in enumerate(values):
        out[b, :n] = True
    return out


def key_padding_to_attention_mask(key_mask):
    return torch.stack([key_mask], dim=1).unsqueeze(1)          # [B, 1, 1, Lk], a new tensor


def combine_masks(*masks):
    given = [m for m in masks if m is not None]
    if len(given) == 0:
        return None
    return torch.stack(torch.broadcast_tensors(*given)).all(dim=0)


def causal_padding_mask(lengths, L):
    padding_mask(lengths, L)                                    # raises ValueError on a bad length
    i = torch.arange(L, device=lengths.device)[:, None]         # [L, 1] queries
    j = torch.arange(L, device=lengths.device)[None, :]         # [1, L] keys
    limit = torch.minimum(i + 1, lengths[:, None, None].to(i.dtype))   # [B, L, 1]
    return (j < limit)[:, None]                                 # [B, 1, L, L]
