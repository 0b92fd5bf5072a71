"""tokenizer written a second other way: build_vocab groups the characters by count
(itertools.groupby over a count-sorted list) and sorts each group by code point;
encode_chars maps with dict.get and only then looks for None; decode_chars keeps a dict of
the single-character entries only; pretokenisation scans the text position by position with
str.startswith over the specials grouped by first character (longest first), and splits the
rest with a compiled pattern; train_bpe keeps pair counts up to date AND a max-heap of
(count, pair) with lazy deletion (stale entries are skipped when popped; ties broken by a key
object that reverses the byte-string order), tokens as lists of ints with a table of their
bytes; bpe_encode follows tiktoken's algorithm: the rank of a MERGED TOKEN's bytes (not of
the pair), recomputed only next to the last merge, with a cache per distinct chunk, and a
lone surrogate found with an explicit code-point test; bpe_decode goes through
b"".join(map(...)) and str(..., "utf-8", "replace")."""

import heapq as _heapq
import itertools as _itertools
import re as _re

_SPLIT = _re.compile(r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+")


def build_vocab(texts, min_freq=1, specials=("<pad>", "<unk>", "<bos>", "<eos>")):
    counts = {}
    for text in texts:
        for ch in text:
            counts[ch] = counts.get(ch, 0) + 1
    vocab = dict(zip(specials, range(len(specials))))
    by_count = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    for count, group in _itertools.groupby(by_count, key=lambda kv: kv[1]):
        if count < min_freq:
            break
        for ch in sorted(ch for ch, _ in group):
            vocab.setdefault(ch, len(vocab))
    return vocab


def encode_chars(text, vocab):
    ids = [vocab.get(ch) for ch in text]
    if None in ids:
        if "<unk>" not in vocab:
            bad = next(ch for ch, i in zip(text, ids) if i is None)
            raise ValueError(f"unknown character {bad!r} and no '<unk>' in the vocabulary")
        unk = vocab["<unk>"]
        ids = [unk if i is None else i for i in ids]
    return ids


def decode_chars(ids, vocab):
    chars = {i: tok for tok, i in vocab.items() if len(tok) == 1}
    return "".join(chars.get(i, "") for i in ids)


def _split_specials(text, special_tokens):
    """[(is_special, piece)]: the specials leftmost-longest, the text between them as chunks."""
    by_first = {}
    for s in sorted(set(special_tokens), key=len, reverse=True):
        if not s:
            raise ValueError("a special token must not be empty")
        by_first.setdefault(s[0], []).append(s)
    if not by_first:
        return [(False, c) for c in _SPLIT.findall(text)]
    out, start, i, n = [], 0, 0, len(text)
    while i < n:
        match = next((s for s in by_first.get(text[i], ()) if text.startswith(s, i)), None)
        if match is None:
            i += 1
            continue
        out.extend((False, c) for c in _SPLIT.findall(text, start, i))
        out.append((True, match))
        i = start = i + len(match)
    out.extend((False, c) for c in _SPLIT.findall(text, start, n))
    return out


class _Key:
    """Heap key: the greatest (count, left bytes, right bytes) pops first."""

    __slots__ = ("count", "left", "right", "pair")

    def __init__(self, count, left, right, pair):
        self.count, self.left, self.right, self.pair = count, left, right, pair

    def __lt__(self, other):
        return (self.count, self.left, self.right) > (other.count, other.left, other.right)


def train_bpe(text, vocab_size, special_tokens=()):
    specials = list(special_tokens)
    if vocab_size < 256 + len(specials):
        raise ValueError(f"vocab_size={vocab_size} leaves no room for 256 bytes and {len(specials)} specials")
    table = [bytes([b]) for b in range(256)] + [s.encode("utf-8") for s in specials]
    freq = {}
    for is_special, piece in _split_specials(text, specials):
        if not is_special:
            freq[piece] = freq.get(piece, 0) + 1
    words = [list(piece.encode("utf-8")) for piece in freq]
    weights = list(freq.values())
    counts, where = {}, {}
    for w, (word, f) in enumerate(zip(words, weights)):
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + f
            where.setdefault(pair, set()).add(w)

    def key(pair):
        return _Key(counts[pair], table[pair[0]], table[pair[1]], pair)

    heap = [key(p) for p in counts]
    _heapq.heapify(heap)
    merges = []
    while len(table) < vocab_size:
        best = None
        while heap:
            top = _heapq.heappop(heap)
            if counts.get(top.pair, 0) == top.count and top.count > 0:
                best = top.pair
                break
        if best is None:
            break
        a, b = best
        new = len(table)
        table.append(table[a] + table[b])
        merges.append((table[a], table[b]))
        touched = set()
        for w in where.pop(best, ()):
            word, f = words[w], weights[w]
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            for pair in zip(word, word[1:]):
                counts[pair] -= f
                touched.add(pair)
            for pair in zip(merged, merged[1:]):
                counts[pair] = counts.get(pair, 0) + f
                where.setdefault(pair, set()).add(w)
                touched.add(pair)
            words[w] = merged
        for pair in touched:
            if counts.get(pair, 0) > 0:
                _heapq.heappush(heap, key(pair))
            else:
                counts.pop(pair, None)
    return dict(enumerate(table)), merges


def _encode_chunk(data, rank_of):
    """tiktoken's byte-pair merge: parts are byte boundaries; repeatedly join the two
    neighbouring parts whose JOINED bytes have the lowest rank."""
    bounds = list(range(len(data) + 1))
    none = float("inf")

    def rank(i):
        return rank_of.get(data[bounds[i]:bounds[i + 2]], none) if i + 2 < len(bounds) else none

    ranks = [rank(i) for i in range(len(bounds) - 1)]
    while len(bounds) > 2:
        best = min(range(len(ranks) - 1), key=ranks.__getitem__, default=None)
        if best is None or ranks[best] == none:
            break
        del bounds[best + 1]
        del ranks[best + 1]
        ranks[best] = rank(best)
        if best > 0:
            ranks[best - 1] = rank(best - 1)
    return [data[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]


def bpe_encode(text, vocab, merges, special_tokens=()):
    for pos, ch in enumerate(text):
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"lone surrogate {ch!r} at position {pos}: it has no UTF-8 bytes")
    rank_of = {}
    for r, (left, right) in enumerate(merges):
        rank_of.setdefault(left + right, r)
    id_of = {tok: i for i, tok in vocab.items()}
    cache = {}
    out = []
    for is_special, piece in _split_specials(text, list(special_tokens)):
        if is_special:
            out.append(id_of[piece.encode("utf-8")])
        else:
            if piece not in cache:
                cache[piece] = [id_of[t] for t in _encode_chunk(piece.encode("utf-8"), rank_of)]
            out.extend(cache[piece])
    return out


def bpe_decode(ids, vocab):
    return str(b"".join(map(vocab.__getitem__, ids)), "utf-8", "replace")
