"""Your train_bpe gives the special tokens the ids after the merges; they come right after the 256 bytes (ids 256, 257, ...), before any merge.

zh: 你的 train_bpe 把特殊 token 的 id 放在所有合并之后；它们应该紧跟在 256 个字节之后（id 256、257……），在所有合并之前。
catches: train_bpe_reference, train_bpe_properties
"""


def train_bpe(text, vocab_size, special_tokens=()):
    if vocab_size < 256 + len(special_tokens):
        raise ValueError("vocab_size too small")
    vocab = {i: bytes([i]) for i in range(256)}
    chunks = Counter(p for p in pretokenize(text, special_tokens) if p not in set(special_tokens))
    words = {tuple(bytes([b]) for b in chunk.encode("utf-8")): n for chunk, n in chunks.items()}
    merges = []
    while len(vocab) < vocab_size - len(special_tokens):
        counts = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                counts[pair] += n
        if not counts:
            break
        pair = max(counts, key=lambda p: (counts[p], p))
        words = {merge_pair(w, pair): n for w, n in words.items()}
        merges.append(pair)
        vocab[len(vocab)] = pair[0] + pair[1]
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    return vocab, merges
