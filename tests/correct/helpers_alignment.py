"""A student's helper module for `alignment`: numerically stable pieces of the losses."""

from __future__ import annotations

import torch


def neg_log_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """-log σ(z) = log(1 + e^{-z}) = logaddexp(0, -z): finite for any finite z."""
    return torch.logaddexp(torch.zeros_like(z), -z)


def masked_sum(values: torch.Tensor, keep: torch.Tensor, dims: str) -> torch.Tensor:
    """Σ over the last dim of values where keep is True, as an einsum with a 0/1 weight.

    ``dims`` names values' dims for einsum (e.g. "bl"); the result drops the last one."""
    weight = keep.to(values.dtype)
    return torch.einsum(f"{dims},{dims}->{dims[:-1]}", values.masked_fill(~keep, 0.0), weight)
