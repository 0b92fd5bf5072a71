"""Your train_bpe counts pairs across chunk boundaries (the text between special tokens is not split with SPLIT_PATTERN), so merges like (b"e", b" ") appear; pairs are counted within chunks only.

zh: 你的 train_bpe 跨越块的边界统计 pair（特殊 token 之间的文本没有用 SPLIT_PATTERN 切分），于是出现 (b"e", b" ") 这样的合并；pair 只能在块内统计。
catches: train_bpe_reference
"""


def train_bpe(text, vocab_size, special_tokens=()):
    if vocab_size < 256 + len(special_tokens):
        raise ValueError("vocab_size too small")
    vocab = {i: bytes([i]) for i in range(256)}
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    if special_tokens:
        pattern = "|".join(map(re.escape, sorted(special_tokens, key=len, reverse=True)))
        pieces = re.split(pattern, text)
    else:
        pieces = [text]
    chunks = Counter(p for p in pieces if p)
    words = {tuple(bytes([b]) for b in chunk.encode("utf-8")): n for chunk, n in chunks.items()}
    merges = []
    while len(vocab) < vocab_size:
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
    return vocab, merges
