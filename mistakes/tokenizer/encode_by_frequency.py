"""Your bpe_encode merges the pair that is most frequent in the text being encoded; at encode time the merge rank decides (the pair learned earliest first), not this text's counts.

zh: 你的 bpe_encode 合并的是当前文本中出现次数最多的 pair；编码时应按合并序号（最早学到的 pair 先合并），而不是这段文本里的次数。
catches: bpe_encode_reference
"""


def bpe_encode(text, vocab, merges, special_tokens=()):
    text.encode("utf-8")
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    id_of = {token: i for i, token in vocab.items()}
    specials = set(special_tokens)
    ids = []
    for piece in pretokenize(text, special_tokens):
        if piece in specials:
            ids.append(id_of[piece.encode("utf-8")])
            continue
        tokens = tuple(bytes([b]) for b in piece.encode("utf-8"))
        while len(tokens) > 1:
            counts = Counter(p for p in zip(tokens, tokens[1:]) if p in ranks)
            if not counts:
                break
            pair = max(counts, key=lambda p: (counts[p], -ranks[p]))
            tokens = merge_pair(tokens, pair)
        ids.extend(id_of[t] for t in tokens)
    return ids
