"""Your bpe_encode merges the leftmost adjacent pair that is a merge, whatever its rank; the pair with the lowest merge rank goes first ("abc" with (b, c) learned before (a, b) is a|bc, then abc).

zh: 你的 bpe_encode 合并最左边的可合并 pair，而不管它的合并序号；应先合并序号最小的 pair（若 (b, c) 比 (a, b) 先学到，"abc" 先变成 a|bc，再变成 abc）。
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
        while True:
            pair = next((p for p in zip(tokens, tokens[1:]) if p in ranks), None)
            if pair is None:
                break
            tokens = merge_pair(tokens, pair)
        ids.extend(id_of[t] for t in tokens)
    return ids
