"""Your config.json leaves activation_function at GPT-2's default "gelu_new" (the tanh approximation); MiniGPT's FFN uses the exact "gelu".

zh: 你的 config.json 的 activation_function 用的是 GPT-2 的默认值 "gelu_new"（tanh 近似）；MiniGPT 的 FFN 用的是精确的 "gelu"。
catches: export_model
"""

_export_pretrained = export_pretrained


def export_pretrained(model, vocab, merges, special_tokens=()):
    files = _export_pretrained(model, vocab, merges, special_tokens)
    config = json.loads(files["config.json"])
    del config["activation_function"]
    files["config.json"] = json.dumps(config).encode()
    return files
