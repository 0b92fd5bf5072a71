"""Your config.json does not set bos_token_id, eos_token_id and pad_token_id to null, so GPT-2's defaults (50256, a token this vocabulary does not have) stay.

zh: 你的 config.json 没有把 bos_token_id、eos_token_id、pad_token_id 设为 null，于是保留了 GPT-2 的默认值 50256（这个词表里没有这个词）。
catches: export_files
"""

_export_pretrained = export_pretrained


def export_pretrained(model, vocab, merges, special_tokens=()):
    files = _export_pretrained(model, vocab, merges, special_tokens)
    config = json.loads(files["config.json"])
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        del config[key]
    files["config.json"] = json.dumps(config).encode()
    return files
