"""Your encode_chars turns special strings such as "<pad>" in the text into their special id; in a character vocabulary they are ordinary characters.

zh: 你的 encode_chars 把文本中的 "<pad>" 等特殊字符串变成了特殊 token 的 id；在字符词表中它们只是普通字符。
catches: encode_chars_reference
"""


def encode_chars(text, vocab):
    specials = sorted((t for t in vocab if len(t) > 1), key=len, reverse=True)
    unk = vocab.get("<unk>")
    ids, i = [], 0
    while i < len(text):
        special = next((s for s in specials if text.startswith(s, i)), None)
        if special is not None:
            ids.append(vocab[special])
            i += len(special)
            continue
        ch = text[i]
        if ch in vocab:
            ids.append(vocab[ch])
        elif unk is None:
            raise ValueError(f"character {ch!r} is not in the vocabulary")
        else:
            ids.append(unk)
        i += 1
    return ids
