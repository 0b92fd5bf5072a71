"""Your tokenizer splits text with GPT-2's own pattern (ByteLevel(use_regex=True)) instead of the course's SPLIT_PATTERN, so words and punctuation are cut into different chunks than bpe_encode's.

zh: 你的分词器用的是 GPT-2 自己的切分规则（ByteLevel(use_regex=True)），而不是课程的 SPLIT_PATTERN，所以词和标点被切成了与 bpe_encode 不同的片段。
catches: export_tokenizer
"""


def _tokenizer(vocab, merges, special_tokens):
    table = bytes_to_unicode()
    spell = lambda b: "".join(table[x] for x in b)
    specials = {s.encode("utf-8") for s in special_tokens}
    token_ids = {spell(b): i for i, b in vocab.items() if b not in specials}
    for s in special_tokens:
        token_ids[s] = next(i for i, b in vocab.items() if b == s.encode("utf-8"))
    tok = Tokenizer(tokenizer_models.BPE(vocab=token_ids, merges=[(spell(a), spell(b)) for a, b in merges]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in special_tokens])
    return tok
