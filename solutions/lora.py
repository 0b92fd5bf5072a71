"""LoRA: low-rank adaptation / 低秩适配.

Fine-tuning every weight of a pretrained model needs memory for every gradient and for the
optimizer's state of every weight. LoRA freezes the pretrained weight W (out, in) and learns
only a low-rank update:

    W' = W + (alpha / r) · B · A,    B: (out, r),  A: (r, in),  r << min(in, out)

so a layer trains r·(in + out) numbers instead of in·out (for a 768 × 768 projection and
r = 8: 12,288 instead of 589,824, about 2%). B starts at zero, so at initialisation the
model is exactly the pretrained one; after training, B·A can be folded into W ("merge") and
inference costs nothing extra.

微调全部参数需要为每个参数保存梯度和优化器状态。LoRA 冻结预训练权重 W，只学习低秩增量
(alpha / r) · B · A：每层只训练 r·(in + out) 个参数。B 初始化为 0，所以一开始模型与预训练模型
完全相同；训练后可以把 B·A 合并回 W，推理不增加任何开销。

Lecture: "🤗如何使用有限的硬件资源进行微调？ LoRA: Low-Rank Adaptation".
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update / 冻结的线性层 + 可训练的低秩增量.

    forward(x) = base(x) + scaling · (x @ Aᵀ) @ Bᵀ      (not merged)
               = base(x)                               (merged: B·A already inside base.weight)
    scaling = alpha / r

    Args:
        base: the pretrained ``nn.Linear(in, out)``. It is kept as the submodule ``base``
            (the same object, not a copy) and its parameters are frozen (requires_grad=False).
        r: the rank of the update, ``r >= 1`` (``r < 1`` raises ValueError).
        alpha: the update is scaled by ``alpha / r``, so that changing r does not change the
            size of the update at the same learning rate.
    Attributes:
        base, r, alpha, scaling (float, alpha / r), merged (bool, starts False),
        lora_A: Parameter (r, in), kaiming-uniform with a = sqrt(5) (as nn.Linear's weight),
        lora_B: Parameter (out, r), zeros (so the layer equals ``base`` at initialisation).
        lora_A and lora_B have the dtype and device of ``base.weight``.

    在 base 的输出上加上 scaling · x Aᵀ Bᵀ。B 初始化为 0：刚包装好的层与原来的层完全相同。

    Lecture: "🤗如何使用有限的硬件资源进行微调？" (LoRA).
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float = 1.0):
        super().__init__()
        # TODO: check r; keep base and freeze its parameters; create lora_A (r, in) with
        #       kaiming_uniform_(a=math.sqrt(5)) and lora_B (out, r) with zeros;
        #       scaling = alpha / r; merged = False.
        # BEGIN SOLUTION
        if r < 1:
            raise ValueError(f"LoRA rank r must be >= 1, got {r}")
        self.base = base
        self.base.requires_grad_(False)
        self.r = r
        self.alpha = alpha
        self.scaling = alpha / r
        self.merged = False
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[..., in] -> [..., out]: base(x) + scaling · (x @ Aᵀ) @ Bᵀ, or base(x) when merged.

        The low-rank path goes through r numbers: never build the (out, in) matrix B·A here.
        低秩路径只经过 r 维：不要在这里构造 (out, in) 的矩阵 B·A。
        """
        # TODO: call self.base (do not read its weight); add the scaled low-rank path
        #       unless the update is already merged.
        # BEGIN SOLUTION
        out = self.base(x)
        if self.merged:
            return out
        return out + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)   # (..., out)
        # END SOLUTION

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into the base weight: base.weight += scaling · B @ A.

        A no-op when already merged. Afterwards forward(x) is base(x) and gives the same
        output as before (up to rounding). 已合并时什么也不做。
        """
        # TODO: only when not merged: add scaling * B @ A to base.weight; set merged.
        # BEGIN SOLUTION
        if self.merged:
            return
        self.base.weight += self.scaling * (self.lora_B @ self.lora_A)   # (out, in)
        self.merged = True
        # END SOLUTION

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the update out of the base weight again: base.weight -= scaling · B @ A.

        A no-op when not merged. Restores the pretrained weight (up to rounding).
        未合并时什么也不做；恢复预训练权重。
        """
        # TODO: only when merged: subtract what merge() added; clear merged.
        # BEGIN SOLUTION
        if not self.merged:
            return
        self.base.weight -= self.scaling * (self.lora_B @ self.lora_A)
        self.merged = False
        # END SOLUTION


def apply_lora(
    model: nn.Module, target_names: Iterable[str], r: int, alpha: float = 1.0
) -> nn.Module:
    """Add LoRA to the named linear layers of a model, in place / 给模型中指定名字的线性层加上 LoRA.

    Every ``nn.Linear`` child whose attribute name (the last part of its dotted path, e.g.
    ``q_proj`` in ``blocks.0.attn.q_proj``) is in ``target_names`` is replaced by
    ``LoRALinear(layer, r, alpha)``, at any depth. Every other parameter of the model is
    frozen, so afterwards only the new lora_A / lora_B are trainable.

    Args:
        model: any nn.Module; modified in place.
        target_names: attribute names such as {"q_proj", "v_proj"}; a single string counts
            as one name. Names that match nothing are allowed (nothing is wrapped for them).
        r, alpha: as in LoRALinear (``r < 1`` raises ValueError).
    Returns:
        ``model`` itself (the same object).

    只包装名字在 target_names 中的 nn.Linear，冻结其余所有参数，返回同一个 model。
    """
    # TODO: freeze all parameters first; collect (parent, name) pairs of matching nn.Linear
    #       children, then replace each with setattr(parent, name, LoRALinear(...)).
    # BEGIN SOLUTION
    if r < 1:
        raise ValueError(f"LoRA rank r must be >= 1, got {r}")
    names = {target_names} if isinstance(target_names, str) else set(target_names)
    model.requires_grad_(False)
    targets = [
        (parent, name)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in names and isinstance(child, nn.Linear)
    ]
    for parent, name in targets:
        setattr(parent, name, LoRALinear(getattr(parent, name), r, alpha))
    return model
    # END SOLUTION


def count_trainable_parameters(model: nn.Module) -> int:
    """Number of trainable numbers: elements of parameters with requires_grad.

    A parameter shared by two modules (e.g. a tied LM head) is counted once.
    统计 requires_grad 为 True 的参数元素个数；共享的参数只算一次。
    """
    # TODO: model.parameters() already lists a shared parameter once.
    # BEGIN SOLUTION
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    # END SOLUTION
