"""Characters and byte-level BPE, a whole file in a student's own style.

* no ``pretokenize`` / ``merge_pair`` helpers under the stub's names and no
  ``SPLIT_PATTERN``: special tokens are cut out by a hand-written leftmost-longest scanner
  (``str.find``, no regex), the chunks come from a pre-compiled pattern;
* ``train_bpe`` is the simplest correct trainer: recount every distinct chunk's pairs after
  each merge (no incremental bookkeeping), with a progress ``print`` every 100 merges;
* ``bpe_encode`` merges one leftmost lowest-rank pair at a time and memoises chunks within a
  call; a lone surrogate's ``UnicodeEncodeError`` (a ValueError) is let through as it is;
* ``encode_chars`` raises its own ValueError subclass; ``build_vocab`` takes keyword-free
  positional specials and sorts with ``heapq``; a ``dataclass`` ``BPETokenizer`` bundles
  encode / decode; ``__main__`` runs a round trip.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["build_vocab", "encode_chars", "decode_chars", "train_bpe", "bpe_encode", "bpe_decode", "BPETokenizer"]

DEFAULT_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<bos>", "<eos>")
UNK = "<unk>"
# a word with at most one leading space, or a run of whitespace (U+001C-U+001F spelled out)
CHUNK_RE = re.compile(r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+")
N_BYTES = 256

Pair = tuple[bytes, bytes]


class UnknownCharacterError(ValueError):
    """A character that the vocabulary cannot represent (it has no <unk>)."""


# --- characters -------------------------------------------------------------------------------------


def build_vocab(texts: list[str], min_freq: int = 1, specials: Sequence[str] = DEFAULT_SPECIALS) -> dict[str, int]:
    counts = Counter()
    for t in texts:
        counts.update(t)
    vocab: dict[str, int] = {}
    for s in specials:
        vocab.setdefault(s, len(vocab))
    heap = [(-n, ch) for ch, n in counts.items() if n >= min_freq]
    heapq.heapify(heap)
    while heap:
        _, ch = heapq.heappop(heap)
        if ch not in vocab:
            vocab[ch] = len(vocab)
    return vocab


def encode_chars(text: str, vocab: dict[str, int]) -> list[int]:
    fallback = vocab.get(UNK)

    def one(ch: str) -> int:
        if ch in vocab:
            return vocab[ch]
        if fallback is None:
            raise UnknownCharacterError(f"{ch!r} is not in the vocabulary and there is no {UNK} entry")
        return fallback

    return [one(ch) for ch in text]


def decode_chars(ids: list[int], vocab: dict[str, int]) -> str:
    inverse = dict(zip(vocab.values(), vocab.keys()))
    return "".join(tok for tok in map(inverse.__getitem__, ids) if len(tok) == 1)


# --- byte-level BPE ---------------------------------------------------------------------------------


def _segments(text: str, specials: Sequence[str]) -> Iterator[tuple[bool, str]]:
    """(is_special, piece) in order: specials leftmost-longest, ordinary chunks in between."""
    if not all(specials):
        raise ValueError("special tokens must be non-empty strings")
    pos = 0
    while pos <= len(text):
        best_at, best = -1, ""
        for s in specials:
            at = text.find(s, pos)
            if at >= 0 and (best_at < 0 or at < best_at or (at == best_at and len(s) > len(best))):
                best_at, best = at, s
        stop = best_at if best_at >= 0 else len(text)
        for chunk in CHUNK_RE.findall(text, pos, stop):
            yield False, chunk
        if best_at < 0:
            return
        yield True, best
        pos = best_at + len(best)


def _join_pair(tokens: list[bytes], pair: Pair) -> list[bytes]:
    out: list[bytes] = []
    it = iter(range(len(tokens)))
    for i in it:
        if i + 1 < len(tokens) and (tokens[i], tokens[i + 1]) == pair:
            out.append(tokens[i] + tokens[i + 1])
            next(it, None)
        else:
            out.append(tokens[i])
    return out


def _pair_counts(words: Iterable[tuple[list[bytes], int]]) -> Counter:
    stats: Counter = Counter()
    for tokens, weight in words:
        for pair in zip(tokens, tokens[1:]):
            stats[pair] += weight
    return stats


def train_bpe(text: str, vocab_size: int, special_tokens: Sequence[str] = ()
              ) -> tuple[dict[int, bytes], list[Pair]]:
    specials = list(special_tokens)
    if vocab_size < N_BYTES + len(specials):
        raise ValueError(f"vocab_size={vocab_size} leaves no room for {N_BYTES} bytes and {len(specials)} specials")
    vocab = {b: bytes([b]) for b in range(N_BYTES)}
    vocab.update({N_BYTES + k: s.encode("utf-8") for k, s in enumerate(specials)})
    freq = Counter(piece for special, piece in _segments(text, specials) if not special)
    words = [([bytes([b]) for b in chunk.encode("utf-8")], n) for chunk, n in freq.items()]
    merges: list[Pair] = []
    while len(vocab) < vocab_size:
        stats = _pair_counts(words)
        if not stats:
            break
        best = max(stats, key=lambda p: (stats[p], p))
        words = [(_join_pair(toks, best) if len(toks) > 1 else toks, n) for toks, n in words]
        merges.append(best)
        vocab[len(vocab)] = best[0] + best[1]
        if len(merges) % 100 == 0:
            print(f"train_bpe: {len(merges)} merges, last {best!r}")  # noqa: T201
    return vocab, merges


def bpe_encode(text: str, vocab: dict[int, bytes], merges: list[Pair], special_tokens: Sequence[str] = ()
               ) -> list[int]:
    raw = text.encode("utf-8")          # a lone surrogate raises UnicodeEncodeError, a ValueError
    del raw
    rank = {tuple(p): r for r, p in enumerate(merges)}
    lookup = {v: k for k, v in vocab.items()}
    memo: dict[str, list[int]] = {}

    def chunk_ids(chunk: str) -> list[int]:
        if chunk not in memo:
            toks = [bytes([b]) for b in chunk.encode("utf-8")]
            while len(toks) > 1:
                scored = [(rank.get((a, b), len(rank)), i) for i, (a, b) in enumerate(zip(toks, toks[1:]))]
                r, i = min(scored)
                if r == len(rank):
                    break
                toks[i:i + 2] = [toks[i] + toks[i + 1]]
            memo[chunk] = [lookup[t] for t in toks]
        return memo[chunk]

    out: list[int] = []
    for special, piece in _segments(text, list(special_tokens)):
        if special:
            out.append(lookup[piece.encode("utf-8")])
        else:
            out += chunk_ids(piece)
    return out


def bpe_decode(ids: list[int], vocab: dict[int, bytes]) -> str:
    return b"".join(map(vocab.__getitem__, ids)).decode("utf-8", "replace")


@dataclass
class BPETokenizer:
    vocab: dict[int, bytes]
    merges: list[Pair]
    special_tokens: list[str] = field(default_factory=list)

    @classmethod
    def train(cls, text: str, vocab_size: int, special_tokens: Sequence[str] = ()) -> BPETokenizer:
        vocab, merges = train_bpe(text, vocab_size, special_tokens)
        return cls(vocab, merges, list(special_tokens))

    def encode(self, text: str) -> list[int]:
        return bpe_encode(text, self.vocab, self.merges, self.special_tokens)

    def decode(self, ids: list[int]) -> str:
        return bpe_decode(ids, self.vocab)


if __name__ == "__main__":
    tok = BPETokenizer.train("我是大学生 the cat<|endoftext|>the hat 🤗", 280, ["<|endoftext|>"])
    sample = "the 大学<|endoftext|>cat 😀"
    assert tok.decode(tok.encode(sample)) == sample
    print(tok.encode(sample))  # noqa: T201
