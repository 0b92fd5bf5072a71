"""A student's helper module for the multihead exercise (used by tests/correct/multihead__whole.py):
the head arithmetic, validated once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeadLayout:
    """How d_model splits into query heads and key/value heads."""

    d_model: int
    n_heads: int
    n_kv_heads: int

    def __post_init__(self) -> None:
        if self.n_heads < 1 or self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model={self.d_model} cannot be split into n_heads={self.n_heads} equal heads")
        if self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads != 0:
            raise ValueError(f"n_heads={self.n_heads} is not a multiple of n_kv_heads={self.n_kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    @property
    def n_rep(self) -> int:
        return self.n_heads // self.n_kv_heads
