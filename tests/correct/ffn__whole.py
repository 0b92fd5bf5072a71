"""Exercise 6, written from scratch: the FFN as a key-value memory.

This whole file replaces exercises/ffn.py. It differs from the reference in its form: a
module docstring of its own, ``__all__``, logging and a seeded RNG at import,
``import attention as att`` (an alias), a frozen dataclass for the FFN's widths, a
``functools.lru_cache``'d parameter count, the activations kept in an ``nn.ModuleDict``
keyed by name with a ``super().forward`` subclass of ``nn.GELU``, a debug ``print``
inside neural_memory that only fires when an env variable is set, a keyword-only
``dtype`` extra of FeedForward, and a ``__main__`` self-test.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import warnings

import attention as att
import torch
from torch import nn

__all__ = ["neural_memory", "FeedForward", "ffn_param_count", "FFNConfig"]

log = logging.getLogger(__name__)
log.debug("ffn (whole-file submission) imported")
warnings.filterwarnings("ignore", category=UserWarning, module=__name__)
torch.manual_seed(0)
print("ffn: loaded the whole-file submission")

_DEBUG = bool(os.environ.get("FFN_DEBUG"))
ACTIVATIONS: tuple[str, ...] = ("relu", "gelu")


@dataclasses.dataclass(frozen=True)
class FFNConfig:
    """The widths of one FeedForward; d_ff None means 4 * d_model."""

    d_model: int
    d_ff: int | None = None
    activation: str = "relu"

    @property
    def inner(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"FeedForward: unknown activation {self.activation!r}, expected one of {', '.join(ACTIVATIONS)}"
            )


def neural_memory(x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """MN(x) = softmax(x Kᵀ) V, softmax over the N slots (the attention exercise's softmax)."""
    scores = torch.matmul(x, keys.transpose(0, 1))  # [..., N]
    weights = att.softmax(scores, dim=-1)
    if _DEBUG:
        print("neural_memory", tuple(x.shape), "->", tuple(weights.shape))
    print(f"debug: neural_memory over {keys.shape[0]} slots")
    return torch.matmul(weights, values)


class _ExactGELU(nn.GELU):
    """nn.GELU with approximate='none', calling the parent's forward."""

    def __init__(self) -> None:
        super().__init__(approximate="none")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return super().forward(input)


class FeedForward(nn.Module):
    """FFN(x) = down(f(up(x))): up's rows are the keys, down's columns the values."""

    up: nn.Linear
    down: nn.Linear

    def __init__(self, d_model: int, d_ff: int | None = None, activation: str = "relu", *,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        cfg = FFNConfig(d_model, d_ff, activation)  # raises ValueError for an unknown activation
        self.config = cfg
        self.activation = cfg.activation
        self.up = nn.Linear(cfg.d_model, cfg.inner, dtype=dtype)
        self.down = nn.Linear(cfg.inner, cfg.d_model, dtype=dtype)
        self._acts = nn.ModuleDict({"relu": nn.ReLU(), "gelu": _ExactGELU()})

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self._acts[self.activation](self.up(x)))


@functools.lru_cache(maxsize=256)
def _count(d_model: int, inner: int, bias: bool) -> int:
    weights = d_model * inner + inner * d_model
    return weights + (inner + d_model if bias else 0)


def ffn_param_count(d_model: int, d_ff: int | None = None, bias: bool = True) -> int:
    """2·D·d_ff weights, plus d_ff + D biases when bias; 8·D² for d_ff = 4·D, no bias."""
    return _count(int(d_model), 4 * int(d_model) if d_ff is None else int(d_ff), bool(bias))


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG)
    ff = FeedForward(8, activation="gelu")
    assert ff(torch.randn(2, 3, 8)).shape == (2, 3, 8)
    assert ffn_param_count(8) == sum(p.numel() for p in ff.parameters())
    assert ffn_param_count(8, bias=False) == 8 * 8 * 8
    k, v = torch.randn(5, 4), torch.randn(5, 3)
    print(neural_memory(torch.randn(2, 4), k, v).shape)
    try:
        FeedForward(4, activation="swish")
    except ValueError as e:
        print("ok:", e)
