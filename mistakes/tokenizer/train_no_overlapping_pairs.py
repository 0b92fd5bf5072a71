"""Your train_bpe counts only non-overlapping occurrences of a pair ("aaa" holds one (a, a)); every adjacent pair counts, so "aaa" holds two.

zh: 你的 train_bpe 只统计不重叠的 pair（"aaa" 中只算一个 (a, a)）；每一对相邻 token 都要计数，"aaa" 中有两个。
catches: train_bpe_reference
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
            i = 0
            while i + 1 < len(word):
                pair = (word[i], word[i + 1])
                counts[pair] += n
                i += 2 if i + 2 < len(word) and word[i + 2] == word[i + 1] == word[i] else 1
        if not counts:
            break
        pair = max(counts, key=lambda p: (counts[p], p))
        words = {merge_pair(w, pair): n for w, n in words.items()}
        merges.append(pair)
        vocab[len(vocab)] = pair[0] + pair[1]
    return vocab, merges
