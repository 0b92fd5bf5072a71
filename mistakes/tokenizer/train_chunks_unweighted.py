"""Your train_bpe counts each distinct chunk once; a chunk that occurs 5 times must count 5 times (weight the pairs by the chunk's count).

zh: 你的 train_bpe 对每个不同的块只计数一次；出现 5 次的块要算 5 次（pair 的次数要乘以块的出现次数）。
catches: train_bpe_reference, train_bpe_corpus
"""


def train_bpe(text, vocab_size, special_tokens=()):
    if vocab_size < 256 + len(special_tokens):
        raise ValueError("vocab_size too small")
    vocab = {i: bytes([i]) for i in range(256)}
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    chunks = set(p for p in pretokenize(text, special_tokens) if p not in set(special_tokens))
    words = [tuple(bytes([b]) for b in chunk.encode("utf-8")) for chunk in chunks]
    merges = []
    while len(vocab) < vocab_size:
        counts = Counter()
        for word in words:
            for pair in zip(word, word[1:]):
                counts[pair] += 1
        if not counts:
            break
        pair = max(counts, key=lambda p: (counts[p], p))
        words = [merge_pair(w, pair) for w in words]
        merges.append(pair)
        vocab[len(vocab)] = pair[0] + pair[1]
    return vocab, merges
