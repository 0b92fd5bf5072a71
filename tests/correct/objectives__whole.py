"""Pre-training and fine-tuning losses, written from scratch (replaces exercises/objectives.py).

How this student's file differs from the reference:
- one private ``_token_ce`` (an ``nn.CrossEntropyLoss(reduction="none")`` instance made at
  import) does every cross-entropy; the mean is ``torch.where(n > 0, sum / n, 0)``;
- the dependency runs the other way: ``sft_loss`` is the general one (a [B, L] "target
  counts" mask), ``next_token_loss`` calls it with all-zero prompt lengths, and
  ``masked_lm_loss`` does not call either;
- ``mask_tokens`` is ``@torch.no_grad()``, selects with ``torch.bernoulli`` on a
  probability tensor, splits 80/10/10 with one ``torch.randint(0, 10)`` draw per position,
  and returns a ``NamedTuple``;
- a ``TypeAlias``, ``Final`` constants, ``__all__``, ``logging.captureWarnings`` and
  ``torch.manual_seed`` at import, a print in a function, a ``__main__`` self-test.
"""

from __future__ import annotations

import logging
from typing import Final, NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["IGNORE_INDEX", "mask_tokens", "masked_lm_loss", "next_token_loss", "sft_loss", "MaskedBatch"]

logging.captureWarnings(True)
torch.manual_seed(0)
_log = logging.getLogger(__name__)

IGNORE_INDEX: Final[int] = -100
_MASK_SHARE: Final[int] = 8  # out of 10: [MASK]
_RANDOM_SHARE: Final[int] = 1  # out of 10: a random id (the last tenth keeps the original)

_token_ce = nn.CrossEntropyLoss(reduction="none", ignore_index=IGNORE_INDEX)


class MaskedBatch(NamedTuple):
    inputs: Tensor
    labels: Tensor


@torch.no_grad()
def mask_tokens(ids: Tensor, mask_token_id: int, vocab_size: int, mlm_probability: float = 0.15,
                special_tokens_mask: Tensor | None = None,
                generator: torch.Generator | None = None) -> MaskedBatch:
    """BERT masking: select with p, then 80% [MASK] / 10% random id / 10% unchanged."""
    if not (0 <= mlm_probability <= 1):
        raise ValueError(f"mask_tokens: mlm_probability={mlm_probability} is outside [0, 1]")
    probs = torch.full(ids.shape, float(mlm_probability), dtype=torch.float64, device=ids.device)
    if special_tokens_mask is not None:
        probs = probs.masked_fill(special_tokens_mask.bool(), 0.0)
    chosen = torch.bernoulli(probs, generator=generator).bool()
    tenth = torch.randint(0, 10, ids.shape, generator=generator, device=ids.device)
    swap = torch.randint(0, vocab_size, ids.shape, generator=generator, device=ids.device, dtype=ids.dtype)
    inputs = ids.clone()
    to_mask = chosen & (tenth < _MASK_SHARE)
    to_random = chosen & (tenth >= _MASK_SHARE) & (tenth < _MASK_SHARE + _RANDOM_SHARE)
    inputs[to_mask] = mask_token_id
    inputs[to_random] = swap[to_random]
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    _log.debug("mask_tokens: %d of %d selected", int(chosen.sum()), chosen.numel())
    return MaskedBatch(inputs, labels)


def _mean_ce(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean CE over targets != -100 (per token); exactly 0 when none counts."""
    flat_logits = logits.reshape(-1, logits.size(-1))
    flat_targets = targets.reshape(-1)
    counted = flat_targets != IGNORE_INDEX
    per_token = _token_ce(flat_logits, flat_targets)  # 0 at ignored targets
    n = counted.sum().to(logits.dtype)
    total = per_token.sum()
    return torch.where(n > 0, total / n.clamp(min=1), torch.zeros((), dtype=logits.dtype, device=logits.device))


def _same_positions(logits: Tensor, other: Tensor, what: str) -> None:
    if tuple(logits.shape[:-1]) != tuple(other.shape):
        raise ValueError(f"logits {list(logits.shape)} need {what} of shape {list(logits.shape[:-1])}, "
                         f"got {list(other.shape)}")


def masked_lm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over labels != -100; 0.0 when there are none."""
    _same_positions(logits, labels, "labels")
    return _mean_ce(logits, labels)


def sft_loss(logits: Tensor, ids: Tensor, prompt_lengths: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Next-token loss counted on targets at positions >= prompt length that are real tokens."""
    _same_positions(logits, ids, "ids")
    L = ids.shape[-1]
    counts = torch.arange(L, device=ids.device).unsqueeze(0) >= prompt_lengths.to(ids.device).unsqueeze(-1)
    if attention_mask is not None:
        counts = counts & attention_mask.bool()
    targets = ids[:, 1:].masked_fill(~counts[:, 1:], IGNORE_INDEX)
    return _mean_ce(logits[:, : L - 1], targets)


def next_token_loss(logits: Tensor, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Logits at t predict ids at t+1; padding targets do not count."""
    _same_positions(logits, ids, "ids")
    no_prompt = torch.zeros(ids.shape[0], dtype=torch.long, device=ids.device)
    return sft_loss(logits, ids, no_prompt, attention_mask)


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 19, (4, 200))
    inp, lab = mask_tokens(x, 19, 20, generator=g)
    print("selected", (lab != IGNORE_INDEX).float().mean().item())
    lg = torch.randn(4, 200, 20)
    print(masked_lm_loss(lg, lab).item(), next_token_loss(lg, x).item(),
          sft_loss(lg, x, torch.tensor([3, 5, 200, 0])).item())
    print(masked_lm_loss(lg, torch.full_like(x, IGNORE_INDEX)).item())
