"""A correct tokenizer written another way: build_vocab returns an OrderedDict, which is a
dict[str, int] as the contract asks."""

import collections

_build_vocab_plain = build_vocab  # noqa: F821 - the reference's, defined above


def build_vocab(texts, min_freq=1, specials=("<pad>", "<unk>", "<bos>", "<eos>")):
    return collections.OrderedDict(_build_vocab_plain(texts, min_freq, specials))
