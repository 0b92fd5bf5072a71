"""A student's helper module for the multihead exercise: attention over any leading dims,
computed in float64 with einsum and a large negative number for the masked scores."""

import math

import torch


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None):
    """softmax(q kᵀ / sqrt(dh)) v for q [..., Lq, dh], k [..., Lk, dh], v [..., Lk, dv].

    Returns (out [..., Lq, dv], probs [..., Lq, Lk]) in q's dtype; mask True = may attend."""
    dtype = q.dtype
    q, k, v = q.double(), k.double(), v.double()
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask.bool(), -1e9)
    scores = scores - scores.max(dim=-1, keepdim=True).values
    weights = scores.exp()
    probs = weights / weights.sum(dim=-1, keepdim=True)
    out = torch.einsum("...qk,...kd->...qd", probs, v)
    return out.to(dtype), probs.to(dtype)
