"""Your peft_lora passes target_names to LoraConfig as they are: peft then adapts every module whose name ends with one of them, an nn.Embedding called tok_emb included, and refuses a MultiHeadAttention called attn.

zh: 你的 peft_lora 把 target_names 原样交给了 LoraConfig：peft 会适配所有名字以它们结尾的模块，包括名为 tok_emb 的 nn.Embedding，并且在名为 attn 的 MultiHeadAttention 上报错。
catches: peft_lora_targets, peft_lora_outputs, peft_lora_invalid
"""


def peft_lora(model, target_names, r, alpha):
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=list(target_names), lora_dropout=0.0)
    return get_peft_model(copy.deepcopy(model), config)
