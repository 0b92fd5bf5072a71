"""Your apply_lora does not freeze the model's other parameters (embeddings, LayerNorms, FFN, untargeted layers stay trainable).

zh: 你的 apply_lora 没有冻结模型中其余的参数（词向量、LayerNorm、FFN 等仍可训练）。
catches: apply_lora_targets
"""
from torch import nn


def apply_lora(model, target_names, r, alpha=1.0):
    if r < 1:
        raise ValueError(f"LoRA rank r must be >= 1, got {r}")
    names = {target_names} if isinstance(target_names, str) else set(target_names)
    targets = [
        (parent, name)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in names and isinstance(child, nn.Linear)
    ]
    for parent, name in targets:
        setattr(parent, name, LoRALinear(getattr(parent, name), r, alpha))  # noqa: F821
    return model
