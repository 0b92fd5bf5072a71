"""Your bpe_encode silently drops a lone surrogate (errors="ignore"); it has no UTF-8 bytes, so the text cannot be encoded: raise ValueError.

zh: 你的 bpe_encode 悄悄丢掉了孤立的代理字符（errors="ignore"）；它没有 UTF-8 字节，文本无法编码：应抛出 ValueError。
catches: bpe_encode_behaviour
"""

_reference_bpe_encode = bpe_encode


def bpe_encode(text, vocab, merges, special_tokens=()):
    clean = text.encode("utf-8", errors="ignore").decode("utf-8")
    return _reference_bpe_encode(clean, vocab, merges, special_tokens)
