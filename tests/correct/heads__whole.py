"""Heads: from hidden states to answers -- a whole-file rewrite of exercises/heads.py.

What is different from the reference (all within the contract):
- no import of the attention exercise: sampling uses torch.softmax (nothing is banned here);
- ``Pooling`` is a ``str`` Enum, so an unknown pooling raises ValueError from the Enum
  itself, and ``head.pooling == "cls"`` still holds;
- "mean" pooling fills padding with NaN and takes ``nanmean`` over the sequence;
- LMHead builds its Linear through a small factory and ties by assigning the Parameter;
- sample_next_token is ``@torch.no_grad()``, accepts any leading dims (flattened), cuts
  top-k by sorting, and takes keyword-only extras (``check_finite``);
- a module-level ``warnings.filterwarnings``, ``torch.manual_seed`` at import, ``__all__``
  and a ``__main__`` demo.
"""

from __future__ import annotations

import enum
import math
import warnings
from typing import Final

import torch
from torch import Tensor, nn

__all__ = ["LMHead", "ClassificationHead", "sample_next_token", "Pooling"]

warnings.filterwarnings("ignore", message=".*nanmean.*")
torch.manual_seed(1234)

NEG_INF: Final = -math.inf


class Pooling(str, enum.Enum):
    CLS = "cls"
    MEAN = "mean"


def _linear(d_in: int, d_out: int, *, bias: bool) -> nn.Linear:
    return nn.Linear(in_features=d_in, out_features=d_out, bias=bias)


class LMHead(nn.Module):
    """logits = h Wᵀ with W = proj.weight [V, D]; proj.weight IS tied_weight when given."""

    def __init__(self, d_model: int, vocab_size: int, tied_weight: nn.Parameter | None = None) -> None:
        super().__init__()
        self.d_model, self.vocab_size = d_model, vocab_size
        self.proj = _linear(d_model, vocab_size, bias=False)
        if tied_weight is None:
            return
        expected = torch.Size([vocab_size, d_model])
        if tied_weight.shape != expected:
            raise ValueError(f"LMHead: tied_weight should be {list(expected)} (V, D), got {list(tied_weight.shape)}")
        self.proj.weight = tied_weight

    def forward(self, h: Tensor) -> Tensor:
        return self.proj(h)


class ClassificationHead(nn.Module):
    """Pool ("cls": position 0, "mean": mean of real tokens), then proj to num_labels."""

    def __init__(self, d_model: int, num_labels: int, pooling: str = "cls") -> None:
        super().__init__()
        try:
            self.pooling = Pooling(pooling)
        except ValueError as err:
            raise ValueError(f"ClassificationHead: pooling must be 'cls' or 'mean', not {pooling!r}") from err
        self.proj = _linear(d_model, num_labels, bias=True)

    def pool(self, h: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        if self.pooling is Pooling.CLS:
            return h[:, 0, :]
        if attention_mask is None:
            return h.mean(dim=-2)
        real = attention_mask.to(torch.bool).unsqueeze(-1)  # [B, L, 1]
        return h.masked_fill(~real, float("nan")).nanmean(dim=-2)

    def forward(self, h: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.proj(self.pool(h, attention_mask))


@torch.no_grad()
def sample_next_token(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                      generator: torch.Generator | None = None, *, check_finite: bool = False) -> Tensor:
    """Greedy when temperature == 0, else a draw from softmax(logits / T) over the top_k."""
    if temperature < 0:
        raise ValueError(f"sample_next_token: temperature must be >= 0, got {temperature!r}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample_next_token: top_k must be None or >= 1, got {top_k!r}")
    if check_finite and not torch.isfinite(logits).all():
        raise ValueError("sample_next_token: logits contain inf or NaN")
    lead, V = logits.shape[:-1], logits.shape[-1]
    flat = logits.reshape(-1, V)
    if temperature == 0:
        return flat.argmax(dim=-1).reshape(lead)
    z = flat / temperature
    if top_k is not None and top_k < V:
        ordered, _ = z.sort(dim=-1, descending=True)
        threshold = ordered[:, top_k - 1 : top_k]  # the k-th largest, [N, 1]
        z = torch.where(z >= threshold, z, torch.full_like(z, NEG_INF))
    probs = torch.softmax(z, dim=-1)
    picked = torch.multinomial(probs, num_samples=1, replacement=True, generator=generator)
    return picked.view(lead)


if __name__ == "__main__":
    emb = nn.Embedding(11, 4)
    head = LMHead(4, 11, emb.weight)
    assert head.proj.weight is emb.weight
    g = torch.Generator().manual_seed(0)
    print(sample_next_token(torch.randn(3, 11), 0.7, 5, generator=g))
    print(ClassificationHead(4, 2, "mean")(torch.randn(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)).shape)
