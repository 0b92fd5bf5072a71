"""Your config.json has no n_inner, so GPT-2 builds its FFN with 4·n_embd hidden units instead of the model's d_ff.

zh: 你的 config.json 没有 n_inner，于是 GPT-2 按 4·n_embd 构造 FFN，而不是模型的 d_ff。
catches: export_files, export_model
"""

_export_pretrained = export_pretrained


def export_pretrained(model, vocab, merges, special_tokens=()):
    files = _export_pretrained(model, vocab, merges, special_tokens)
    config = json.loads(files["config.json"])
    del config["n_inner"]
    files["config.json"] = json.dumps(config).encode()
    return files
