"""Your train_bpe breaks ties between equally frequent pairs by their token ids; the contract compares byte strings: a merged token b"th" (id 258 or more) is smaller than b"z" (id 122).

zh: 你的 train_bpe 在次数相同的 pair 之间按 token 的 id 比较；约定比较的是字节串：合并得到的 b"th"（id 不小于 258）小于 b"z"（id 122）。
catches: train_bpe_reference
"""


def train_bpe(text, vocab_size, special_tokens=()):
    if vocab_size < 256 + len(special_tokens):
        raise ValueError("vocab_size too small")
    vocab = {i: bytes([i]) for i in range(256)}
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    chunks = Counter(p for p in pretokenize(text, special_tokens) if p not in set(special_tokens))
    words = {tuple(chunk.encode("utf-8")): n for chunk, n in chunks.items()}   # ids, not bytes
    merges = []
    while len(vocab) < vocab_size:
        counts = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                counts[pair] += n
        if not counts:
            break
        pair = max(counts, key=lambda p: (counts[p], p))
        new_id = len(vocab)
        merged = {}
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = n
        words = merged
        merges.append((vocab[pair[0]], vocab[pair[1]]))
        vocab[new_id] = vocab[pair[0]] + vocab[pair[1]]
    return vocab, merges
