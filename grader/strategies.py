"""Hypothesis strategies shared by the exercises' checks (trusted side, numpy only)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

dtypes = st.sampled_from([np.float64, np.float32])


def floats(dtype=np.float64, lo: float = -10.0, hi: float = 10.0) -> st.SearchStrategy:
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=width)


def arrays(shape, dtype=np.float64, lo: float = -10.0, hi: float = 10.0) -> st.SearchStrategy:
    """Float arrays of a given shape (or shape strategy) with bounded finite entries."""
    return hnp.arrays(dtype, shape, elements=floats(dtype, lo, hi))


def dims(lo: int = 1, hi: int = 5) -> st.SearchStrategy:
    return st.integers(lo, hi)


@st.composite
def distinct_dims(draw, n: int, lo: int = 1, hi: int = 6) -> tuple[int, ...]:
    """``n`` sizes, pairwise different when the range allows: axis mix-ups then show."""
    values = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n, unique=hi - lo + 1 >= n))
    return tuple(values)


def normal(rng: np.random.Generator, shape, dtype=np.float64, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def random_mask(rng: np.random.Generator, shape, p: float = 0.7) -> np.ndarray:
    """A bool mask whose every query row (last axis) keeps at least one key."""
    m = rng.random(shape) < p
    first = rng.integers(0, shape[-1], size=shape[:-1])
    np.put_along_axis(m, first[..., None], True, axis=-1)
    return m
