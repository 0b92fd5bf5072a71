"""Exercise `masking` -- who may look at whom (my version).

(Whole-file alternative for tests/test_correct_other_ways.py: replaces exercises/masking.py.
What it does differently: ``__all__`` and a module-level logger; the lower triangle comes from
a ``@torch.jit.script`` helper compiled at import; ``causal_mask`` caches the CPU triangle per
length with ``functools.lru_cache`` and hands out a copy; lengths are validated by one private
helper shared with ``causal_padding_mask`` (``torch.as_tensor`` accepts lists too);
``combine_masks`` is declared with ``typing.overload`` and folds the masks with
``functools.reduce(operator.and_)``, copying a lone mask; ``causal_padding_mask`` goes through
a small frozen dataclass ``DecoderMask``; and a ``__main__`` self-test.)
"""

from __future__ import annotations

import functools
import logging
import operator
from dataclasses import dataclass
from typing import overload

import torch
from torch import Tensor

__all__ = [
    "causal_mask",
    "padding_mask",
    "key_padding_to_attention_mask",
    "combine_masks",
    "causal_padding_mask",
]

logger = logging.getLogger("masking")
logger.addHandler(logging.NullHandler())


@torch.jit.script
def _lower_triangle(n: int) -> Tensor:
    pos = torch.arange(n)
    return pos.unsqueeze(0) <= pos.unsqueeze(1)       # [i, j] = j <= i


@functools.lru_cache(maxsize=32)
def _cached_triangle(n: int) -> Tensor:
    return _lower_triangle(n)


def causal_mask(L: int, device: torch.device | str | None = None) -> Tensor:
    """Bool[L, L], True where key j <= query i."""
    if L < 0:
        raise ValueError(f"causal_mask: L must be >= 0, got {L}")
    tri = _cached_triangle(int(L))
    return tri.to(device=device, copy=True) if device is not None else tri.clone()


def _checked_lengths(lengths, max_len: int) -> Tensor:
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D [B], got shape {list(lengths.shape)}")
    bad = (lengths < 0) | (lengths > max_len)
    if bad.any():
        first = int(bad.nonzero()[0, 0])
        raise ValueError(f"lengths[{first}] = {int(lengths[first])} is outside [0, {max_len}]")
    return lengths


def padding_mask(lengths: Tensor, max_len: int) -> Tensor:
    """Bool[B, max_len], True at the first lengths[b] positions (right padding)."""
    lengths = _checked_lengths(lengths, max_len)
    logger.debug("padding_mask for %d sequences of up to %d tokens", lengths.numel(), max_len)
    positions = torch.arange(max_len, device=lengths.device)
    return torch.lt(positions.unsqueeze(0), lengths.unsqueeze(1))


def key_padding_to_attention_mask(key_mask: Tensor) -> Tensor:
    """Bool[B, Lk] -> Bool[B, 1, 1, Lk] (a view)."""
    B, Lk = key_mask.shape
    return key_mask.bool().reshape(B, 1, 1, Lk)


@overload
def combine_masks() -> None: ...
@overload
def combine_masks(*masks: None) -> None: ...
@overload
def combine_masks(*masks: Tensor | None) -> Tensor | None: ...


def combine_masks(*masks):
    """Broadcast AND of every mask given (None ignored); None when nothing is left."""
    present = [m for m in masks if m is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0].bool().clone()
    return functools.reduce(operator.and_, (m.bool() for m in present))


@dataclass(frozen=True)
class DecoderMask:
    """The mask of a decoder over right-padded sequences."""

    lengths: Tensor
    L: int

    def build(self) -> Tensor:
        keys = key_padding_to_attention_mask(padding_mask(self.lengths, self.L))   # [B, 1, 1, L]
        return combine_masks(causal_mask(self.L, device=self.lengths.device), keys)  # [B, 1, L, L]


def causal_padding_mask(lengths: Tensor, L: int) -> Tensor:
    """Bool[B, 1, L, L]: (j <= i) and (j < lengths[b])."""
    return DecoderMask(_checked_lengths(lengths, L), L).build()


if __name__ == "__main__":
    print(causal_mask(4).int())
    print(padding_mask(torch.tensor([2, 0, 3]), 3).int())
    print(causal_padding_mask(torch.tensor([2, 3]), 3).int())
    print(combine_masks(None, None), combine_masks(causal_mask(2), None).int())
