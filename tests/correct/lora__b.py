"""lora written a second other way: lora_A is copied out of a freshly built
nn.Linear(in, r, bias=False) (whose own init is kaiming_uniform_(a=sqrt(5))), lora_B is
created with torch.zeros and the two are registered B first; LoRALinear carries a peft-style
``lora_dropout = nn.Identity()`` submodule, an extra_repr, and ``merged`` is a property over a
private flag; the low-rank path is F.linear(F.linear(dropout(x), A), B) with the scale applied
to x first; merge / unmerge work on ``weight.data`` (no torch.no_grad) with
add_(B @ A, alpha=±scaling); apply_lora freezes through named_parameters, walks
named_modules(remove_duplicate=False) and finds each parent with get_submodule (a shared
Linear reachable under two names gets ONE LoRALinear, put at both places, so the tie stays);
count_trainable_parameters deduplicates with a set of the parameters themselves."""

import torch as _torch
import torch.nn.functional as _F
from torch import nn as _nn


class LoRALinear(_nn.Module):
    def __init__(self, base, r, alpha=1.0):
        super().__init__()
        if not r >= 1:
            raise ValueError(f"LoRALinear: the rank r must be a positive integer, not {r!r}")
        w = base.weight
        out_features, in_features = w.shape
        self.base = base
        for _, p in base.named_parameters():
            p.requires_grad_(False)
        init = _nn.Linear(in_features, r, bias=False, dtype=w.dtype, device=w.device)
        self.lora_B = _nn.Parameter(_torch.zeros(out_features, r, dtype=w.dtype, device=w.device))
        self.lora_A = _nn.Parameter(init.weight.detach().clone())
        self.lora_dropout = _nn.Identity()
        self.r = int(r)
        self.alpha = alpha
        self.scaling = alpha / r
        self._merged = False

    @property
    def merged(self):
        return self._merged

    @merged.setter
    def merged(self, value):
        self._merged = bool(value)

    def extra_repr(self):
        return f"r={self.r}, alpha={self.alpha}, merged={self._merged}"

    def forward(self, x):
        out = self.base(x)
        if self._merged:
            return out
        z = _F.linear(self.lora_dropout(x) * self.scaling, self.lora_A)       # (..., r)
        return out + _F.linear(z, self.lora_B)

    def _delta(self):
        return self.lora_B.data @ self.lora_A.data                              # (out, in)

    def merge(self):
        if self._merged:
            return
        self.base.weight.data.add_(self._delta(), alpha=self.scaling)
        self._merged = True

    def unmerge(self):
        if not self._merged:
            return
        self.base.weight.data.add_(self._delta(), alpha=-self.scaling)
        self._merged = False


def apply_lora(model, target_names, r, alpha=1.0):
    if not r >= 1:
        raise ValueError(f"apply_lora: the rank r must be >= 1, got {r!r}")
    wanted = frozenset([target_names]) if isinstance(target_names, str) else frozenset(target_names)
    for _, p in model.named_parameters():
        p.requires_grad = False
    found = []
    for path, module in model.named_modules(remove_duplicate=False):
        if not path or not isinstance(module, _nn.Linear):
            continue
        parent_path, _, name = path.rpartition(".")
        if name in wanted:
            found.append((parent_path, name, module))
    wrappers = {}
    for parent_path, name, module in found:
        if id(module) not in wrappers:
            wrappers[id(module)] = LoRALinear(module, r, alpha)
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, name, wrappers[id(module)])
    return model


def count_trainable_parameters(model):
    unique = {p for _, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
    return int(sum(p.numel() for p in unique))
