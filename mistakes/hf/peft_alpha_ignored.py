"""Your LoraConfig is not given lora_alpha=alpha, so peft scales the update by its default 8 / r instead of alpha / r.

zh: 你的 LoraConfig 没有传入 lora_alpha=alpha，于是 peft 用默认的 8 / r 而不是 alpha / r 来缩放增量。
catches: peft_lora_outputs
"""


def peft_lora(model, target_names, r, alpha):
    wanted = set(target_names)
    names = [name for name, module in model.named_modules()
             if name.rpartition(".")[2] in wanted and isinstance(module, nn.Linear)]
    if not names:
        raise ValueError(f"no nn.Linear layer is named any of {sorted(wanted)}")
    return get_peft_model(copy.deepcopy(model), LoraConfig(r=r, target_modules=names, lora_dropout=0.0))
