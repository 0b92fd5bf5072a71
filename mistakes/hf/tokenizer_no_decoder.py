"""Your tokenizer has no decoder, so decode() returns the byte-level characters ("Ġthe" for " the") instead of the text: add decoders.ByteLevel().

zh: 你的分词器没有解码器，decode() 返回的是字节级字符（" the" 变成 "Ġthe"）而不是原文：请加上 decoders.ByteLevel()。
catches: export_tokenizer
"""

_tokenizer_with_decoder = _tokenizer


def _tokenizer(vocab, merges, special_tokens):
    tok = _tokenizer_with_decoder(vocab, merges, special_tokens)
    tok.decoder = None
    return tok
