"""Your peft_lora gives get_peft_model the model itself, which peft then changes in place (its layers wrapped, its weights frozen): adapt copy.deepcopy(model).

zh: 你的 peft_lora 把模型本身交给了 get_peft_model，peft 会原地修改它（包装它的层、冻结它的权重）：请对 copy.deepcopy(model) 做适配。
catches: peft_lora_targets
"""


def peft_lora(model, target_names, r, alpha):
    wanted = set(target_names)
    names = [name for name, module in model.named_modules()
             if name.rpartition(".")[2] in wanted and isinstance(module, nn.Linear)]
    if not names:
        raise ValueError(f"no nn.Linear layer is named any of {sorted(wanted)}")
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules=names, lora_dropout=0.0))
