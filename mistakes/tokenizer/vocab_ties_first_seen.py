"""Your build_vocab orders characters of equal count by where they first appear (Counter.most_common); the contract orders them by code point.

zh: 你的 build_vocab 对出现次数相同的字符按首次出现的位置排序（Counter.most_common）；约定是按码位排序。
catches: build_vocab_reference
"""


def build_vocab(texts, min_freq=1, specials=("<pad>", "<unk>", "<bos>", "<eos>")):
    counts = Counter(ch for text in texts for ch in text)
    vocab = {token: i for i, token in enumerate(specials)}
    for ch, n in counts.most_common():
        if n >= min_freq and ch not in vocab:
            vocab[ch] = len(vocab)
    return vocab
