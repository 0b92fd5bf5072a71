"""Your bpe_decode decodes with errors="strict", so ids that stop in the middle of a character raise UnicodeDecodeError; use errors="replace" (they become "\ufffd").

zh: 你的 bpe_decode 用 errors="strict" 解码，在字符中间截断的 id 会抛出 UnicodeDecodeError；应使用 errors="replace"（变成 "\ufffd"）。
catches: bpe_decode_reference
"""


def bpe_decode(ids, vocab):
    return b"".join(vocab[i] for i in ids).decode("utf-8")
