"""Your decode_chars writes the specials ("<bos>", "<pad>", ...) into the text; they must be dropped.

zh: 你的 decode_chars 把特殊 token（"<bos>"、"<pad>" 等）写进了文本；它们应该被丢掉。
catches: decode_chars_reference
"""


def decode_chars(ids, vocab):
    token_of = {i: token for token, i in vocab.items()}
    return "".join(token_of[i] for i in ids)
