"""Your train_bpe breaks ties between equally frequent pairs by which pair was counted first (max(counts, key=counts.get)); the contract takes the greatest (left, right) pair of byte strings.

zh: 你的 train_bpe 在出现次数相同的 pair 之间按先被统计到的那个取（max(counts, key=counts.get)）；约定是取 (left, right) 字节串最大的 pair。
catches: train_bpe_reference, train_bpe_corpus
"""


def train_bpe(text, vocab_size, special_tokens=()):
    if vocab_size < 256 + len(special_tokens):
        raise ValueError("vocab_size too small")
    vocab = {i: bytes([i]) for i in range(256)}
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    chunks = Counter(p for p in pretokenize(text, special_tokens) if p not in set(special_tokens))
    words = {tuple(bytes([b]) for b in chunk.encode("utf-8")): n for chunk, n in chunks.items()}
    merges = []
    while len(vocab) < vocab_size:
        counts = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                counts[pair] += n
        if not counts:
            break
        pair = max(counts, key=counts.get)
        words = {merge_pair(w, pair): n for w, n in words.items()}
        merges.append(pair)
        vocab[len(vocab)] = pair[0] + pair[1]
    return vocab, merges
