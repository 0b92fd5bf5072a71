"""tokenizer written another way: build_vocab counts with a plain dict and orders by two
stable sorts (code point, then count descending) instead of one key (-count, char);
encode_chars is a comprehension that only asks for <unk> when it needs it; decode_chars goes
through an id -> token list; pretokenisation scans for the special tokens with str.find
(earliest start, then longest) instead of one regex alternation; train_bpe keeps tokens as
integer ids, recounts every pair over the distinct chunks after each merge (the simplest
correct trainer, no incremental bookkeeping) and breaks ties by comparing the pairs' bytes;
bpe_encode works on ids with a (left id, right id) -> (rank, new id) table, merges every
occurrence of the lowest-ranked pair at once and memoises chunks; bpe_decode fills a
bytearray."""

import re as _re

_CHUNK = _re.compile(r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+")


def build_vocab(texts, min_freq=1, specials=("<pad>", "<unk>", "<bos>", "<eos>")):
    counts = {}
    for text in texts:
        for ch in text:
            counts[ch] = counts.get(ch, 0) + 1
    vocab = {}
    for s in specials:
        vocab[s] = len(vocab)
    by_code_point = sorted(counts)
    ordered = sorted(by_code_point, key=lambda c: counts[c], reverse=True)     # stable: ties keep code-point order
    for ch in ordered:
        if counts[ch] < min_freq:
            break
        if ch not in vocab:
            vocab[ch] = len(vocab)
    return vocab


def encode_chars(text, vocab):
    def lookup(ch):
        if ch in vocab:
            return vocab[ch]
        if "<unk>" not in vocab:
            raise ValueError(f"{ch!r} is unknown and the vocabulary has no <unk> entry")
        return vocab["<unk>"]

    return [lookup(ch) for ch in text]


def decode_chars(ids, vocab):
    table = [None] * (max(vocab.values(), default=-1) + 1)
    for token, i in vocab.items():
        table[i] = token
    out = []
    for i in ids:
        token = table[i]
        if token is not None and len(token) == 1:
            out.append(token)
    return "".join(out)


def _pieces(text, special_tokens):
    """(is_special, piece) in order: specials leftmost-longest, the rest split into chunks."""
    specials = [s for s in special_tokens if s]
    out = []
    pos = 0
    while pos < len(text):
        best_at, best = len(text), None
        for s in specials:
            at = text.find(s, pos)
            if at != -1 and (at < best_at or (at == best_at and len(s) > len(best))):
                best_at, best = at, s
        out.extend((False, c) for c in _CHUNK.findall(text, pos, best_at))
        if best is None:
            break
        out.append((True, best))
        pos = best_at + len(best)
    return out


def _merge_ids(seq, a, b, new):
    out = []
    i, n = 0, len(seq)
    while i < n:
        if i + 1 < n and seq[i] == a and seq[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


def train_bpe(text, vocab_size, special_tokens=()):
    special_tokens = list(special_tokens)
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(f"vocab_size must be at least {256 + len(special_tokens)}, got {vocab_size}")
    token_bytes = [bytes([i]) for i in range(256)] + [s.encode("utf-8") for s in special_tokens]
    weights = {}
    for is_special, piece in _pieces(text, special_tokens):
        if not is_special:
            weights[piece] = weights.get(piece, 0) + 1
    words = [list(piece.encode("utf-8")) for piece in weights]
    freq = list(weights.values())
    merges = []
    while len(token_bytes) < vocab_size:
        pair_counts = {}
        for word, f in zip(words, freq):
            for a, b in zip(word, word[1:]):
                pair_counts[(a, b)] = pair_counts.get((a, b), 0) + f
        if not pair_counts:
            break
        a, b = max(pair_counts, key=lambda p: (pair_counts[p], (token_bytes[p[0]], token_bytes[p[1]])))
        new = len(token_bytes)
        token_bytes.append(token_bytes[a] + token_bytes[b])
        merges.append((token_bytes[a], token_bytes[b]))
        words = [_merge_ids(w, a, b, new) if len(w) > 1 else w for w in words]
    return dict(enumerate(token_bytes)), merges


def bpe_encode(text, vocab, merges, special_tokens=()):
    id_of = {tok: i for i, tok in vocab.items()}
    table = {}
    for rank, (left, right) in enumerate(merges):
        table[(id_of[left], id_of[right])] = (rank, id_of[left + right])
    memo = {}
    ids = []
    for is_special, piece in _pieces(text, list(special_tokens)):
        if is_special:
            ids.append(id_of[piece.encode("utf-8")])
            continue
        if piece not in memo:
            seq = list(piece.encode("utf-8"))              # a lone surrogate raises UnicodeEncodeError (a ValueError)
            while len(seq) > 1:
                found = [table[p] for p in zip(seq, seq[1:]) if p in table]
                if not found:
                    break
                rank, new = min(found)
                left, right = id_of[merges[rank][0]], id_of[merges[rank][1]]
                seq = _merge_ids(seq, left, right, new)
            memo[piece] = seq
        ids.extend(memo[piece])
    return ids


def bpe_decode(ids, vocab):
    buf = bytearray()
    for i in ids:
        buf += vocab[i]
    return buf.decode("utf-8", errors="replace")
