"""LoRA, written from scratch by a student who likes structure.

A small abstract ``_LowRankAdapter`` base class holds the merge / unmerge bookkeeping;
``LoRALinear`` subclasses it. The module seeds torch, logs and prints at import, silences
warnings, keeps an lru-cached helper for the init bound and a dataclass config, and has a
self-test under ``if __name__ == "__main__"``.
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LoRALinear", "apply_lora", "count_trainable_parameters", "LoRAConfig"]

warnings.filterwarnings("ignore", category=UserWarning)
log = logging.getLogger(__name__)
torch.manual_seed(0)
print("[lora] module imported")  # noqa: T201 - debug output a student leaves in

DEFAULT_ALPHA: float = 1.0


@dataclass(frozen=True)
class LoRAConfig:
    r: int = 4
    alpha: float = DEFAULT_ALPHA
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    def __post_init__(self) -> None:
        _check_rank(self.r)


def _check_rank(r: int) -> None:
    if r < 1:
        raise ValueError(f"the LoRA rank r must be an integer >= 1, got {r!r}")


@functools.cache
def _uniform_bound(fan_in: int) -> float:
    # kaiming_uniform_(a=sqrt(5)): gain = sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / fan_in)
    gain = math.sqrt(2.0 / (1.0 + 5.0))
    return gain * math.sqrt(3.0 / fan_in)


class _LowRankAdapter(nn.Module):
    """Bookkeeping shared by adapters that can be folded into a base weight."""

    merged: bool

    def __init__(self) -> None:
        super().__init__()
        self.merged = False

    def delta_weight(self) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fold(self, sign: float) -> None:
        weight: Tensor = self.base.weight  # type: ignore[attr-defined]
        with torch.no_grad():
            weight.add_(self.delta_weight(), alpha=sign)

    def merge(self) -> None:
        if self.merged:
            return
        self._fold(+1.0)
        self.merged = True

    def unmerge(self) -> None:
        if not self.merged:
            return
        self._fold(-1.0)
        self.merged = False


class LoRALinear(_LowRankAdapter):
    """A frozen nn.Linear plus scaling * B A."""

    base: nn.Linear
    lora_A: nn.Parameter
    lora_B: nn.Parameter

    def __init__(self, base: nn.Linear, r: int, alpha: float = DEFAULT_ALPHA) -> None:
        _check_rank(r)
        super().__init__()
        self.add_module("base", base)
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        out_features, in_features = base.weight.shape
        bound = _uniform_bound(in_features)
        self.lora_A = nn.Parameter(torch.empty(r, in_features, **factory).uniform_(-bound, bound))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r, **factory))
        log.debug("LoRALinear(%d -> %d, r=%d, alpha=%s)", in_features, out_features, r, alpha)

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling}, merged={self.merged}"

    def delta_weight(self) -> Tensor:
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: Tensor, *args, **kwargs) -> Tensor:
        y = self.base(x, *args, **kwargs)
        if self.merged:
            return y
        return y + self.scaling * F.linear(F.linear(x, self.lora_A), self.lora_B)


def _linear_children(model: nn.Module, names: frozenset[str]) -> Iterator[tuple[nn.Module, str]]:
    for _, parent in model.named_modules():
        for name, child in list(parent.named_children()):
            if name in names and type(child) is not LoRALinear and isinstance(child, nn.Linear):
                yield parent, name


def apply_lora(
    model: nn.Module, target_names: Iterable[str] | str, r: int, alpha: float = DEFAULT_ALPHA
) -> nn.Module:
    """Wrap each nn.Linear child named in target_names in a LoRALinear; freeze the rest."""
    _check_rank(r)
    names = frozenset((target_names,)) if isinstance(target_names, str) else frozenset(target_names)
    model.requires_grad_(False)
    found = list(_linear_children(model, names))
    print(f"[lora] wrapping {len(found)} layers: {sorted({n for _, n in found})}")  # noqa: T201
    for parent, name in found:
        setattr(parent, name, LoRALinear(getattr(parent, name), r, alpha))
    return model


def count_trainable_parameters(model: nn.Module) -> int:
    unique = {id(p): p for _, p in model.named_parameters(remove_duplicate=True)}
    return int(sum(p.numel() for p in unique.values() if p.requires_grad))


if __name__ == "__main__":
    layer = LoRALinear(nn.Linear(8, 4), r=2, alpha=4.0)
    nn.init.normal_(layer.lora_B)
    x = torch.randn(3, 8)
    before = layer(x)
    layer.merge()
    assert torch.allclose(layer(x), before, atol=1e-6)
    layer.unmerge()
    assert torch.allclose(layer(x), before, atol=1e-6)
    print("self-test ok", count_trainable_parameters(layer))  # noqa: T201
