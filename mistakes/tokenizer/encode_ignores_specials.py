"""Your bpe_encode encodes special tokens such as <|endoftext|> as ordinary text; each occurrence of a special token must become its single id.

zh: 你的 bpe_encode 把 <|endoftext|> 等特殊 token 当作普通文本编码；每一处特殊 token 都应编码为它自己的单个 id。
catches: bpe_encode_reference, bpe_specials
"""

_reference_bpe_encode = bpe_encode


def bpe_encode(text, vocab, merges, special_tokens=()):
    return _reference_bpe_encode(text, vocab, merges, [])
