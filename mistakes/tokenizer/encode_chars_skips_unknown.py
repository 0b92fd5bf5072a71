"""Your encode_chars silently skips an unknown character when the vocabulary has no <unk>; that is invalid and must raise ValueError.

zh: 你的 encode_chars 在词表没有 <unk> 时悄悄跳过未知字符；这种输入无效，应抛出 ValueError。
catches: chars_behaviour
"""


def encode_chars(text, vocab):
    unk = vocab.get("<unk>")
    ids = []
    for ch in text:
        if ch in vocab:
            ids.append(vocab[ch])
        elif unk is not None:
            ids.append(unk)
    return ids
