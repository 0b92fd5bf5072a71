"""Oracle tests for solutions/tokenizer.py, against tokenizers nobody on the team wrote.

- ``tiktoken.Encoding`` built from the reference's ranks (``{vocab[id]: id}``) with the
  contract's split pattern and special tokens encodes exactly like ``bpe_encode``: on the
  held-out text with the merges learned on the shipped corpus, on arbitrary Unicode
  (hypothesis), on vocabularies ``train_bpe`` learns from random texts, and on the grader's
  hand-made merge lists (so that a submission written like tiktoken, merging by the rank of
  the joined bytes, is not failed by them). Its ``decode`` equals ``bpe_decode``.
- 🤗 ``tokenizers``: a ``models.BPE`` with the same merges over GPT-2's byte-to-unicode
  alphabet, pre-tokenized by ``Split(Regex(SPLIT_PATTERN), "isolated")`` then
  ``ByteLevel(use_regex=False)``, the special tokens added as special tokens, and a
  ``ByteLevel`` decoder: the same ids as ``bpe_encode`` (its BPE merges the lowest-rank pair
  first, leftmost among equal ranks, as the contract says), the same text as ``bpe_decode``
  (``from_utf8_lossy`` replaces like ``errors="replace"``). Its *trainer* is no oracle: it
  breaks ties between equally frequent pairs differently.
Skipped with a reason when the optional package is missing (both are in the ``oracles``
extra).
"""

from __future__ import annotations

import random
from functools import lru_cache

import pytest
import tokenizer
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.course.tokenizer import (
    OVERLAP_MERGES,
    OVERLAP_TEXT,
    TOY_MERGES,
    TOY_SPECIALS,
    TOY_TEXT,
    corpus,
    corpus_bpe,
    layout,
)

ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
FRAGMENTS = ["中文", "我是大学生", "丁丂七", "🤗", "👩‍👩‍👧", "e\u0301", "  ", "   the", " \t", "\n\n", "\r\n",
             "\u3000", "\x1c", "\x1d\x1e\x1f ", "\xa0", "\u2028", "\x85", "\u200b", "\ufeff", "abc", "aaaaa"]
TEXTS = st.lists(ANY_TEXT | st.sampled_from(FRAGMENTS), max_size=6).map("".join)
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)


def _tiktoken():
    return pytest.importorskip("tiktoken", reason="tiktoken is not installed (pip install tiktoken)")


def tiktoken_encoding(vocab: dict[int, bytes], special_tokens: list[str]):
    tiktoken = _tiktoken()
    special = {s: 256 + k for k, s in enumerate(special_tokens)}
    ranks = {token: i for i, token in vocab.items() if i not in special.values()}
    assert len(ranks) + len(special) == len(vocab), "every vocabulary entry is distinct"
    return tiktoken.Encoding("course", pat_str=tokenizer.SPLIT_PATTERN, mergeable_ranks=ranks,
                             special_tokens=special)


@lru_cache(maxsize=1)
def corpus_encoding():
    vocab, merges, sp = corpus_bpe()
    return tiktoken_encoding(vocab, sp), vocab, merges, sp


def test_the_graders_small_merge_lists_are_what_train_bpe_learns():
    assert tokenizer.train_bpe(TOY_TEXT, 256 + len(TOY_MERGES))[1] == TOY_MERGES
    assert tokenizer.train_bpe(TOY_TEXT, 256 + 3 + len(TOY_MERGES), TOY_SPECIALS) == (
        layout(TOY_MERGES, TOY_SPECIALS), TOY_MERGES)
    assert tokenizer.train_bpe(OVERLAP_TEXT, 256 + 100)[1] == OVERLAP_MERGES


def test_tiktoken_encodes_the_heldout_text_like_bpe_encode():
    enc, vocab, merges, sp = corpus_encoding()
    text = corpus()["heldout"]
    ours = tokenizer.bpe_encode(text, vocab, merges, sp)
    assert enc.encode(text, allowed_special="all") == ours
    assert tokenizer.bpe_decode(ours, vocab) == text
    # with no special tokens given, the specials are ordinary text on both sides
    assert enc.encode(text, disallowed_special=()) == tokenizer.bpe_encode(text, vocab, merges)


@SETTINGS
@given(TEXTS, st.lists(st.sampled_from(["<|endoftext|>", "<|sep|>"]), max_size=2))
def test_tiktoken_encodes_arbitrary_unicode_like_bpe_encode(text, specials):
    enc, vocab, merges, sp = corpus_encoding()
    text = "".join(specials) + text + "".join(specials)
    ours = tokenizer.bpe_encode(text, vocab, merges, sp)
    assert enc.encode(text, allowed_special="all") == ours
    assert enc.decode(ours) == tokenizer.bpe_decode(ours, vocab) == text


@SETTINGS
@given(st.lists(st.integers(0, 557), max_size=12))
def test_tiktoken_decodes_any_ids_like_bpe_decode(ids):
    enc, vocab, _, _ = corpus_encoding()
    assert enc.decode(ids, errors="replace") == tokenizer.bpe_decode(ids, vocab)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(TEXTS, TEXTS, st.integers(0, 60))
def test_tiktoken_agrees_on_vocabularies_train_bpe_learns(train_text, text, merges_wanted):
    sp = ["<|endoftext|>"]
    vocab, merges = tokenizer.train_bpe(train_text + "<|endoftext|>" + train_text[::-1], 257 + merges_wanted, sp)
    enc = tiktoken_encoding(vocab, sp)
    for t in (train_text, text, text + "<|endoftext|>" + train_text):
        assert enc.encode(t, allowed_special="all") == tokenizer.bpe_encode(t, vocab, merges, sp)


def test_tiktoken_agrees_on_larger_random_vocabularies():
    rng = random.Random(7)
    words = ["low", "lower", "newest", "中文", "模型", "🤗", "aaaa", "ab", " ", "\n", "the", "大学生"]
    for _ in range(5):
        text = "".join(rng.choice(words) + rng.choice([" ", "", "  ", "\n"]) for _ in range(400))
        vocab, merges = tokenizer.train_bpe(text, 256 + 120)
        enc = tiktoken_encoding(vocab, [])
        probe = "".join(rng.choice(words) + rng.choice([" ", "", "\t"]) for _ in range(200))
        assert enc.encode(probe) == tokenizer.bpe_encode(probe, vocab, merges)


@pytest.mark.parametrize("merges", [TOY_MERGES, OVERLAP_MERGES], ids=["toy", "overlap"])
@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.lists(st.sampled_from(["a", "b", "c", "d", " ", "中", "abc", "bcd", "aaa"]), max_size=14).map("".join))
def test_tiktoken_agrees_on_the_graders_hand_made_merges(merges, text):
    vocab = layout(merges, [])
    enc = tiktoken_encoding(vocab, [])
    assert enc.encode(text) == tokenizer.bpe_encode(text, vocab, merges)


# --- 🤗 tokenizers ---------------------------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (the ByteLevel alphabet)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return chars


def hf_tokenizer(vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]], special_tokens: list[str]):
    tk = pytest.importorskip("tokenizers", reason="tokenizers is not installed (pip install tokenizers)")
    alphabet = bytes_to_unicode()

    def u(b: bytes) -> str:
        return "".join(alphabet[x] for x in b)

    model = tk.models.BPE(vocab={u(b): i for i, b in vocab.items()}, merges=[(u(a), u(b)) for a, b in merges])
    tok = tk.Tokenizer(model)
    tok.pre_tokenizer = tk.pre_tokenizers.Sequence([
        tk.pre_tokenizers.Split(tk.Regex(tokenizer.SPLIT_PATTERN), behavior="isolated"),
        tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = tk.decoders.ByteLevel()
    tok.add_special_tokens([tk.AddedToken(s, special=True, normalized=False) for s in special_tokens])
    for k, s in enumerate(special_tokens):
        assert tok.token_to_id(s) == 256 + k
    return tok


@lru_cache(maxsize=1)
def corpus_hf():
    vocab, merges, sp = corpus_bpe()
    return hf_tokenizer(vocab, merges, sp), vocab, merges, sp


def test_hf_bpe_encodes_the_heldout_text_like_bpe_encode():
    tok, vocab, merges, sp = corpus_hf()
    text = corpus()["heldout"]
    ours = tokenizer.bpe_encode(text, vocab, merges, sp)
    assert tok.encode(text, add_special_tokens=False).ids == ours
    assert tok.decode(ours, skip_special_tokens=False) == text


@SETTINGS
@given(TEXTS, st.lists(st.sampled_from(["<|endoftext|>", "<|sep|>"]), max_size=2))
def test_hf_bpe_encodes_arbitrary_unicode_like_bpe_encode(text, specials):
    tok, vocab, merges, sp = corpus_hf()
    text = "".join(specials) + text + "".join(specials)
    ours = tokenizer.bpe_encode(text, vocab, merges, sp)
    assert tok.encode(text, add_special_tokens=False).ids == ours


@SETTINGS
@given(st.lists(st.integers(0, 557).filter(lambda i: i not in (256, 257)), max_size=12))
def test_hf_byte_level_decoder_decodes_like_bpe_decode(ids):
    tok, vocab, _, _ = corpus_hf()
    assert tok.decode(ids, skip_special_tokens=False) == tokenizer.bpe_decode(ids, vocab)


@pytest.mark.parametrize("merges", [TOY_MERGES, OVERLAP_MERGES], ids=["toy", "overlap"])
@settings(max_examples=200, deadline=None, derandomize=True)
@given(text=st.lists(st.sampled_from(["a", "b", "c", "d", " ", "中", "abc", "bcd", "aaa", "<s>!", "<s>", "</s>"]),
                     max_size=14).map("".join))
def test_hf_bpe_agrees_on_the_graders_hand_made_merges(merges, text):
    vocab = layout(merges, TOY_SPECIALS)
    tok = hf_tokenizer(vocab, merges, TOY_SPECIALS)     # leftmost-longest, like the contract
    assert tok.encode(text, add_special_tokens=False).ids == tokenizer.bpe_encode(text, vocab, merges, TOY_SPECIALS)
