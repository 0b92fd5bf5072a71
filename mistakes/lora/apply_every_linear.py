"""Your apply_lora wraps every nn.Linear in the model, not only those whose name is in target_names.

zh: 你的 apply_lora 包装了模型中所有的 nn.Linear，而不只是名字在 target_names 中的那些。
catches: apply_lora_targets
"""
from torch import nn


def apply_lora(model, target_names, r, alpha=1.0):
    if r < 1:
        raise ValueError(f"LoRA rank r must be >= 1, got {r}")
    model.requires_grad_(False)
    targets = [
        (parent, name)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear)
    ]
    for parent, name in targets:
        setattr(parent, name, LoRALinear(getattr(parent, name), r, alpha))  # noqa: F821
    return model
