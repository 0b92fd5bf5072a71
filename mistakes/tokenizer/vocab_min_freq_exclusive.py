"""Your build_vocab keeps a character only when its count is greater than min_freq; a count equal to min_freq is enough.

zh: 你的 build_vocab 只保留次数大于 min_freq 的字符；次数等于 min_freq 就应该保留。
catches: build_vocab_reference
"""


def build_vocab(texts, min_freq=1, specials=("<pad>", "<unk>", "<bos>", "<eos>")):
    counts = Counter(ch for text in texts for ch in text)
    vocab = {token: i for i, token in enumerate(specials)}
    for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if n > min_freq and ch not in vocab:
            vocab[ch] = len(vocab)
    return vocab
