"""Your tokenizer does not add the special tokens (add_special_tokens), so "<|end|>" is cut into pieces like ordinary text instead of staying one id.

zh: 你的分词器没有加入特殊词元（add_special_tokens），于是 "<|end|>" 像普通文本一样被切开，而不是保持为一个 id。
catches: export_tokenizer
"""


def _tokenizer(vocab, merges, special_tokens):
    table = bytes_to_unicode()
    spell = lambda b: "".join(table[x] for x in b)
    token_ids = {spell(b): i for i, b in vocab.items()}
    tok = Tokenizer(tokenizer_models.BPE(vocab=token_ids, merges=[(spell(a), spell(b)) for a, b in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    return tok
