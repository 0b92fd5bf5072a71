"""lora written another way: lora_A drawn with an explicit U(-1/sqrt(in), 1/sqrt(in)) (what
kaiming_uniform_(a=sqrt(5)) amounts to), parameters registered with register_parameter, the
base frozen parameter by parameter, the low-rank path as two einsums, merge / unmerge with
Tensor.addmm_ (alpha = ±scaling) in float64 and cast back, apply_lora through a recursive
walker in a helper module (helpers_lora), count_trainable_parameters deduplicating by id()
over every module's own parameters."""

import math as _math

import torch as _torch
from helpers_lora import find_linear_children as _find_linear_children
from torch import nn as _nn


class LoRALinear(_nn.Module):
    def __init__(self, base, r, alpha=1.0):
        super().__init__()
        if r < 1:
            raise ValueError(f"rank r has to be a positive integer, got r={r!r}")
        for p in base.parameters():
            p.requires_grad = False
        self.base = base
        self.r = r
        self.alpha = alpha
        self.scaling = float(alpha) / r
        self.merged = False
        out_f, in_f = base.weight.shape
        kw = {"dtype": base.weight.dtype, "device": base.weight.device}
        bound = 1.0 / _math.sqrt(in_f)
        self.register_parameter("lora_A", _nn.Parameter(_torch.empty(r, in_f, **kw).uniform_(-bound, bound)))
        self.register_parameter("lora_B", _nn.Parameter(_torch.zeros(out_f, r, **kw)))

    def forward(self, x):
        y = self.base(x)
        if self.merged:
            return y
        z = _torch.einsum("...i,ri->...r", x, self.lora_A)
        return y + _torch.einsum("...r,or->...o", z, self.lora_B) * self.scaling

    def _shift(self, sign):
        w = self.base.weight
        w64 = w.detach().to(_torch.float64)
        w64.addmm_(self.lora_B.detach().double(), self.lora_A.detach().double(), alpha=sign * self.scaling)
        with _torch.no_grad():
            w.copy_(w64.to(w.dtype))

    def merge(self):
        if not self.merged:
            self._shift(+1.0)
            self.merged = True

    def unmerge(self):
        if self.merged:
            self._shift(-1.0)
            self.merged = False


def apply_lora(model, target_names, r, alpha=1.0):
    if r < 1:
        raise ValueError(f"LoRA rank must be at least 1 (got {r})")
    names = {target_names} if isinstance(target_names, str) else {str(n) for n in target_names}
    for p in model.parameters():
        p.requires_grad_(False)
    for parent, name in _find_linear_children(model, names):
        parent._modules[name] = LoRALinear(parent._modules[name], r, alpha)
    return model


def count_trainable_parameters(model):
    sizes = {}
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if p.requires_grad:
                sizes[id(p)] = p.numel()
    return sum(sizes.values())
