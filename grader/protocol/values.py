"""Request values to the objects they stand for, on either side of the boundary.

Arrays become tensors through a ``leaf`` function the caller chooses; one-key dicts are tags
for objects that cannot travel as data: ``{"$noncontig": a}`` (the same values with transposed
storage), ``{"$param": a}``, ``{"$generator": seed}``, ``{"$dtype": "float64"}``,
``{"$linear": {"weight": w, "bias": b}}``, ``{"$shape_log": None}`` (a fresh ``ShapeLog``) and
``{"$char_encoder": {token: id, ...}}`` (a callable ``encode(text) -> list[int]``, see
``CharEncoder``). The worker adds ``$ref`` (an object it keeps). Bytes and int-keyed dicts need
no tag: the wire carries them as they are.
Shared by the trusted side (the reference's inputs) and the worker, so both build the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from grader.protocol.wire import Array

DTYPES = ("float32", "float64")


def materialize(v: Any, leaf: Callable[[Any], Any], special: dict[str, Callable[[Any], Any]] | None = None) -> Any:
    if isinstance(v, (Array, np.ndarray)):
        return leaf(v)
    if isinstance(v, list):
        return [materialize(x, leaf, special) for x in v]
    if isinstance(v, tuple):
        return tuple(materialize(x, leaf, special) for x in v)
    if not isinstance(v, dict):
        return v
    if len(v) == 1:
        (key, inner), = v.items()
        if special and key in special:
            return special[key](inner)
        made = _tagged(key, inner, leaf)
        if made is not None:
            return made
    return {k: materialize(x, leaf, special) for k, x in v.items()}


def _tagged(key: str, inner: Any, leaf: Callable[[Any], Any]) -> Any:
    import torch

    if key == "$noncontig":
        return leaf(inner).transpose(-2, -1).contiguous().transpose(-2, -1)
    if key == "$param":
        return torch.nn.Parameter(leaf(inner))
    if key == "$generator":
        return torch.Generator().manual_seed(int(inner))
    if key == "$dtype" and inner in DTYPES:
        return getattr(torch, inner)
    if key == "$char_encoder" and isinstance(inner, dict):
        return CharEncoder(inner)
    if key == "$linear":  # a fresh nn.Linear holding the given weight (and bias)
        w, b = leaf(inner["weight"]), inner.get("bias")
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            if b is not None:
                lin.bias.copy_(leaf(b))
        return lin
    if key == "$shape_log" and inner is None:
        return ShapeLog()
    return None


class ShapeLog:
    """A forward (pre-)hook that records the shapes of the tensors each call receives.

    ``module.register_forward_pre_hook(log)``; ``log.calls`` then holds, per call, the shapes
    of the tensor arguments, so a check can see how often a submodule ran and on how many
    positions. It changes nothing (returns None).
    """

    def __init__(self) -> None:
        self.calls: list[list[list[int]]] = []

    def __call__(self, module: Any, args: tuple, *rest: Any) -> None:
        import torch

        self.calls.append([list(a.shape) for a in args if isinstance(a, torch.Tensor)])


class CharEncoder:
    """``encode(text) -> list[int]`` over a small vocabulary ``{token: id}``: at each position the
    longest token that matches (so markers such as ``"<|end|>"`` are one id, every other
    character its own). A character the vocabulary lacks raises ValueError. Plain Python, so
    a check can hand an encoder to a function that takes one."""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = {str(k): int(v) for k, v in vocab.items() if k}
        self.longest = max(map(len, self.vocab), default=1)

    def __call__(self, text: str) -> list[int]:
        out: list[int] = []
        pos = 0
        while pos < len(text):
            for width in range(min(self.longest, len(text) - pos), 0, -1):  # longest match first
                token = self.vocab.get(text[pos:pos + width])
                if token is not None:
                    out.append(token)
                    pos += width
                    break
            else:
                raise ValueError(f"{text[pos]!r} is not in the encoder's vocabulary")
        return out

    def __repr__(self) -> str:
        return f"CharEncoder({len(self.vocab)} tokens)"
