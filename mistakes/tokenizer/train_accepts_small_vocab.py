"""Your train_bpe accepts a vocab_size smaller than 256 + len(special_tokens); such a vocabulary cannot even hold the bytes and the specials: raise ValueError.

zh: 你的 train_bpe 接受了小于 256 + len(special_tokens) 的 vocab_size；这样的词表连全部字节和特殊 token 都放不下：应抛出 ValueError。
catches: train_bpe_behaviour
"""

_reference_train_bpe = train_bpe


def train_bpe(text, vocab_size, special_tokens=()):
    return _reference_train_bpe(text, max(vocab_size, 256 + len(special_tokens)), special_tokens)
