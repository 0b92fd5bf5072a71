"""Checks for `tokenizer`: a character vocabulary and byte-level BPE (train, encode, decode).

Character vocabulary: build_vocab / encode_chars / decode_chars are compared with the
reference on Chinese and English texts whose characters tie in count (ties go by code
point), with min_freq 1-3 and different specials; a property checks the round trip.

BPE: train_bpe is compared with the reference in stages (plain text, ties, overlapping
pairs ``aaaa``, Chinese bytes, special tokens, more vocabulary than the text can merge);
bpe_encode on two small merge lists learned from toy texts (written out; merge rank, position
and frequency disagree on them, and overlapping special tokens ``<s>``/``<s>!``) and
on prefixes of the merges learned from the shipped corpus (a prefix of BPE merges is what
training with a smaller vocab_size gives); bpe_decode on ids that cut characters in half.
Properties (hypothesis, arbitrary Unicode: emoji, Chinese, combining marks, whitespace
runs, U+001C-U+001F): bpe_decode(bpe_encode(x)) == x, special tokens come out as single
ids in order, train_bpe's vocabulary layout.

The corpus (``grader/data/tokenizer.npz``, made by ``grader/data/make_tokenizer_data.py``,
read with ``np.load(allow_pickle=False)``): 20 KB of synthetic Chinese and English with the
special tokens ``<|endoftext|>`` and ``<|sep|>``; train_bpe must learn exactly the
reference's 300 merges within BUDGET_S seconds (one call). CPU time measured on the 2-core
machine (Python 3.11, ``--measure`` of the data script): the reference 0.21-0.29 s (it keeps
pair counts up to date); the simplest correct version (recount the pairs of every distinct
chunk after each merge) 0.7 s; the same over every chunk occurrence 1.3 s. On this corpus
counting each distinct chunk once already differs at the first merge and breaking ties by
first occurrence at the 11th. The budget is generous (the machine is loaded): it stops
runaway code (a quadratic merge loop, re-splitting the text for every merge), not a plain
Python trainer. A failure reports how many merges match and the training time.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, CheckFailed, Checks, fail
from grader.messages import msg

checks = Checks("tokenizer")

DATA = Path(__file__).resolve().parent.parent / "data" / "tokenizer.npz"
BUDGET_S = 60


# --- the shipped corpus and its merges ----------------------------------------------------------


@lru_cache(maxsize=1)
def corpus() -> dict:
    """text, heldout, special_tokens, vocab_size and the reference's merges, read without pickle."""
    with np.load(DATA, allow_pickle=False) as f:
        raw, lengths = f["merge_bytes"].tobytes(), f["merge_lengths"].tolist()
        merges, pos = [], 0
        for a, b in lengths:
            merges.append((raw[pos:pos + a], raw[pos + a:pos + a + b]))
            pos += a + b
        return {"text": f["corpus"].tobytes().decode("utf-8"),
                "heldout": f["heldout"].tobytes().decode("utf-8"),
                "special_tokens": [str(s) for s in f["special_tokens"]],
                "vocab_size": int(f["vocab_size"]), "merges": merges}


def layout(merges: list[tuple[bytes, bytes]], special_tokens: list[str]) -> dict[int, bytes]:
    """The vocabulary train_bpe returns with these merges: bytes, specials, merges."""
    tokens = [bytes([b]) for b in range(256)] + [s.encode("utf-8") for s in special_tokens]
    tokens += [left + right for left, right in merges]
    return dict(enumerate(tokens))


def corpus_bpe(n_merges: int | None = None, specials: bool = True) -> tuple[dict, list, list]:
    """(vocab, merges, special_tokens) from the first n merges learned on the corpus."""
    data = corpus()
    merges = data["merges"][:n_merges]
    sp = data["special_tokens"] if specials else []
    return layout(merges, sp), merges, sp


# Small merge lists learned by train_bpe (so tiktoken agrees with bpe_encode on them; the oracle
# test checks both facts), written out so that the checks need no trainer. TOY: rank differs from
# position and from frequency (" abc" is " a" + "bc", not " ab" + "c"); OVERLAP: runs of one byte.
TOY_TEXT = "bcd " * 6 + "abc " * 4 + "ab " * 3 + "dd " * 2 + "中中 "
TOY_MERGES = [(b"b", b"c"), (b" ", b"a"), (b"bc", b"d"), (b" ", b"bcd"), (b" a", b"bc"), (b" a", b"b"),
              (b"\xe4", b"\xb8"), (b"\xe4\xb8", b"\xad"), (b"d", b"d"), (b" ", b"dd")]
OVERLAP_TEXT = "aaaa " * 3 + "aaa " * 2 + "aa"
OVERLAP_MERGES = [(b"a", b"a"), (b" ", b"aa"), (b" aa", b"aa"), (b" aa", b"a"), (b"aa", b"aa")]
TOY_SPECIALS = ["<s>", "<s>!", "</s>"]          # "<s>!" overlaps "<s>": leftmost-longest decides

ZH_CHARS = "我是大学生小明今天考试没有一次参加幼儿园北京北纬度中文模型的了"
EN_WORDS = ["the", "a", "model", "token", "apple", "day", "keeps", "doctor", "away", "low", "lower",
            "lowest", "new", "newer", "wide", "wider", "aaa", "banana"]


def _pick(rng: np.random.Generator, items, n: int) -> list:
    return [items[int(i)] for i in rng.integers(0, len(items), size=n)]


def _mixed_text(rng: np.random.Generator, n: int = 12) -> str:
    """Chinese and English words with spaces, whitespace runs, punctuation and emoji."""
    parts = []
    for _ in range(n):
        u = rng.random()
        if u < 0.35:
            parts.append("".join(_pick(rng, ZH_CHARS, int(rng.integers(1, 5)))))
        elif u < 0.75:
            parts.append(" " + _pick(rng, EN_WORDS, 1)[0])
        else:
            parts.append(_pick(rng, ["  ", "\n", "，", "。", "!", " 🤗", "🍎", "\t ", "\x1c", "e\u0301", "12"], 1)[0])
    return "".join(parts)


# --- hypothesis strategies: arbitrary Unicode and the fragments that break tokenizers -----------

FRAGMENTS = ["中文", "我是大学生", "丁丂七", "🤗", "🍎", "👩‍👩‍👧", "e\u0301", "\u0301\u0302", "  ", "   the",
             " \t", "\n\n", "\r\n", "\u3000", "\x1c", "\x1d\x1e\x1f ", "\xa0", "\u2028", "\x85", " Hello",
             "world", "123", "ﬁ", "\u200b", "\ufeff", "<", "|>", "<|endof", "aaaa", "abcd", "，。"]
ANY_CHAR = st.characters(exclude_categories=("Cs",))               # any code point but surrogates
texts = st.lists(st.text(ANY_CHAR, max_size=6) | st.sampled_from(FRAGMENTS), max_size=8).map("".join)
plain_texts = texts.map(lambda s: s.replace("|", ""))               # no special token inside


def _ids(out, what: str) -> list[int]:
    if not isinstance(out, (list, tuple)) or not all(type(i) is int for i in out):
        fail("ids.what_return_list", what=what, got=repr(out)[:80])
    return list(out)


def _str(out, what: str) -> str:
    if not isinstance(out, str):
        fail("str.what_return_str", what=what, got=repr(out)[:80])
    return out


def _vocab_and_merges(out) -> tuple[dict, list]:
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[0], dict)
            and isinstance(out[1], (list, tuple))):
        fail("vocab_and_merges.train_bpe_return",
             got=repr(out)[:80])
    vocab, merges = out
    if not all(type(k) is int and type(v) is bytes for k, v in vocab.items()):
        fail("vocab_and_merges.train_bpe_vocab", got=repr(next(iter(vocab.items()), None))[:80])
    if not all(isinstance(m, (tuple, list)) and len(m) == 2 and all(type(x) is bytes for x in m)
               for m in merges):
        fail("vocab_and_merges.train_bpe_every", got=repr(merges[:2])[:80])
    return vocab, [tuple(m) for m in merges]


def _raises_value_error(ctx, fn: str, *args, **kwargs) -> None:
    """ValueError or its subclass UnicodeEncodeError (what str.encode raises for a surrogate)."""
    try:
        ctx.raises("ValueError", fn, *args, **kwargs)
    except CheckFailed as cf:
        if f"{fn} raised UnicodeEncodeError" not in cf.failure.message:
            raise


# --- the character vocabulary -------------------------------------------------------------------


def _char_texts(rng: np.random.Generator) -> list[str]:
    """Texts where several characters share a count (ties go by code point)."""
    chars = _pick(rng, ZH_CHARS + "abcxyz ", 8)
    texts = []
    for _ in range(int(rng.integers(2, 4))):
        k = int(rng.integers(3, 9))
        texts.append("".join(_pick(rng, chars, k)) + "".join(sorted(set(chars))))  # every char at least once
    return texts


@checks.compare("build_vocab_reference",
                "build_vocab matches the reference (specials first, then by count, ties by code point; "
                "min_freq)", points=2, fn="build_vocab",
                zh="build_vocab 与参考一致（特殊 token 在前，再按次数从多到少，次数相同按码位；min_freq）")
def _(rng):
    yield Case(args=(_char_texts(rng),))
    yield Case(args=(_char_texts(rng),), kwargs={"min_freq": 2})
    yield Case(args=(_char_texts(rng), 3))
    yield Case(args=(_char_texts(rng),), kwargs={"specials": ("<unk>", "<pad>")})
    yield Case(args=(["一天一部 Iphone 让我与博士学位失之交臂？", "An Apple a Day Keeps the Doctor Away"],),
               kwargs={"min_freq": int(rng.integers(1, 3)), "specials": ()})
    yield Case(args=(["ba" * int(rng.integers(1, 4)) + "中国中国", "b"],), kwargs={"specials": ("<bos>",)})


def _char_vocab(rng: np.random.Generator, unk: bool = True) -> dict[str, int]:
    chars = sorted(set(_pick(rng, ZH_CHARS + "ab <>p", 12)))
    specials = ["<pad>", "<unk>", "<bos>", "<eos>"] if unk else ["<pad>", "<bos>"]
    order = [chars[int(i)] for i in rng.permutation(len(chars))]
    return {tok: i for i, tok in enumerate(specials + order)}


@checks.compare("encode_chars_reference",
                "encode_chars matches the reference (unknown characters -> <unk>; special strings in the "
                "text are plain characters)", points=1, fn="encode_chars",
                zh="encode_chars 与参考一致（未知字符变成 <unk>；文本中的特殊字符串只是普通字符）")
def _(rng):
    vocab = _char_vocab(rng)
    known = [t for t in vocab if len(t) == 1]
    yield Case(args=("".join(_pick(rng, known, 10)), vocab))
    yield Case(args=("".join(_pick(rng, known + ["龙", "🤗", "Z"], 12)), vocab))
    yield Case(args=("<pad>" + "".join(_pick(rng, known, 5)) + "<bos>", vocab),
               label=msg("encode_chars_reference.case_special_strings_inside_text"))
    yield Case(args=("", _char_vocab(rng)))


@checks.compare("decode_chars_reference",
                "decode_chars matches the reference (specials are dropped)", points=1, fn="decode_chars",
                zh="decode_chars 与参考一致（特殊 token 被丢掉）")
def _(rng):
    vocab = _char_vocab(rng)
    n = len(vocab)
    yield Case(args=([int(i) for i in rng.integers(4, n, size=9)], vocab))
    ids = [int(i) for i in rng.integers(0, n, size=12)]
    yield Case(args=([2, *ids, 3, 0, 0], vocab), label=msg("decode_chars_reference.case_bos_eos_pad_pad"))
    yield Case(args=([], vocab))


@checks.behaviour("chars_behaviour",
                  "encode_chars: ValueError for an unknown character without <unk>; decode_chars(encode_chars(x)) "
                  "== x for arbitrary Unicode; build_vocab does not modify its input", points=2,
                  uses=("build_vocab", "encode_chars", "decode_chars"),
                  zh="encode_chars：词表没有 <unk> 时遇到未知字符抛出 ValueError；对任意 Unicode 文本 "
                     "decode_chars(encode_chars(x)) == x；build_vocab 不修改输入")
def _(ctx):
    vocab = {"<pad>": 0, "a": 1, "中": 2}
    ctx.last_input = "encode_chars('a中b', {'<pad>': 0, 'a': 1, '中': 2})  (no '<unk>')"
    ctx.raises("ValueError", "encode_chars", "a中b", vocab)

    @ctx.given(st.lists(texts, min_size=1, max_size=2))
    def roundtrip(batch):
        reply = ctx.request({"op": "call", "target": {"module": ctx.exercise, "attr": "build_vocab"},
                             "args": [batch], "kwargs": {}, "echo": True})
        if reply["args"][0] != batch:
            fail("chars_behaviour.build_vocab_modified")
        vocab = reply["result"]
        if not isinstance(vocab, dict) or not all(type(v) is int for v in vocab.values()):
            fail("chars_behaviour.build_vocab_return", got=repr(vocab)[:80])
        for text in batch:
            ids = _ids(ctx.call("encode_chars", text, vocab), "encode_chars")
            if len(ids) != len(text):
                fail("chars_behaviour.encode_chars_ids", ids=len(ids), text=len(text),
                     input=repr(text)[:120])
            back = _str(ctx.call("decode_chars", ids, vocab), "decode_chars")
            if back != text:
                fail("chars_behaviour.decode_chars_encode", input=repr(text)[:120], expected=repr(text)[:80],
                     got=repr(back)[:80])

    roundtrip()


# --- train_bpe -----------------------------------------------------------------------------------


@checks.compare("train_bpe_reference",
                "train_bpe matches the reference: vocab and merges (counts within chunks, weighted; "
                "overlapping pairs; ties -> the greatest (left, right) bytes; special tokens cut out)", points=5,
                fn="train_bpe", staged=True,
                zh="train_bpe 与参考一致：vocab 与 merges（在块内按权重计数；重叠的 pair 也计数；次数相同取 "
                   "(left, right) 字节串最大者；特殊 token 先切出）")
def _(rng):
    words = _pick(rng, ["low", "lower", "newest", "widest", "new"], 5)
    reps = rng.permutation(5) + 1                          # distinct counts: no ties at the start
    text = " ".join(w for w, r in zip(words, reps) for _ in range(int(r)))
    yield Case(args=(text, 256 + int(rng.integers(6, 12))), label=msg("train_bpe_reference.stage.english_few_ties"))
    letters = "".join(_pick(rng, list("abcdefgh"), 6))
    yield Case(args=(" ".join([letters, letters[::-1], letters[1:] + letters[0]]), 256 + int(rng.integers(5, 9))),
               label=msg("train_bpe_reference.stage.ties"))
    run = "a" * int(rng.integers(3, 7))
    yield Case(args=(f"{run} {run}a ba{run}b " + "ab " * int(rng.integers(1, 4)), 256 + 6),
               label=msg("train_bpe_reference.stage.overlapping"))
    yield Case(args=(_mixed_text(rng, 16), 256 + int(rng.integers(10, 20))),
               label=msg("train_bpe_reference.stage.chinese_english"))
    body = [_mixed_text(rng, 5) for _ in range(3)]
    yield Case(args=("<|endoftext|>".join(body) + "<|sep|>x<|sep|>", 256 + 2 + int(rng.integers(8, 16))),
               kwargs={"special_tokens": ["<|endoftext|>", "<|sep|>"]},
               label=msg("train_bpe_reference.stage.special_tokens"))
    yield Case(args=("ab ab  c" + "\x1c\x1c" + _pick(rng, ["", "d", " d"], 1)[0], 300),
               kwargs={"special_tokens": ["<pad>"]}, label=msg("train_bpe_reference.stage.vocab_beyond"))


@checks.property("train_bpe_properties",
                 "train_bpe's vocabulary: ids 0-255 the bytes, then the specials, then one id per merge "
                 "(left + right of earlier tokens); at most vocab_size entries (arbitrary Unicode)", points=2,
                 uses=("train_bpe",),
                 zh="train_bpe 的词表：0-255 是单个字节，接着是特殊 token，然后每个合并一个 id（由更早的 token "
                    "拼成）；不超过 vocab_size（任意 Unicode 文本）")
def _(ctx):
    @ctx.given(texts, st.integers(0, 12), st.sampled_from([[], ["<|endoftext|>"], ["<s>", "</s>"]]))
    def prop(text, extra, specials):
        size = 256 + len(specials) + extra
        vocab, merges = _vocab_and_merges(ctx.call("train_bpe", text, size, specials))
        n0 = 256 + len(specials)
        if any(vocab.get(i) != bytes([i]) for i in range(256)):
            bad = next(i for i in range(256) if vocab.get(i) != bytes([i]))
            fail("train_bpe_properties.vocab_bad_single", bad=bad, got=repr(vocab.get(bad)))
        for k, s in enumerate(specials):
            if vocab.get(256 + k) != s.encode():
                fail("train_bpe_properties.vocab_value_special", value=256 + k, s=s, got=repr(vocab.get(256 + k))[:60])
        if len(vocab) > size or len(vocab) != n0 + len(merges) or sorted(vocab) != list(range(len(vocab))):
            fail("train_bpe_properties.vocabulary_hold_ids", value=n0 - 1, size=size,
                 expected=f"{n0} + {len(merges)} merges ids, at most {size}", got=f"{len(vocab)} ids")
        for k, (left, right) in enumerate(merges):
            earlier = {vocab[i] for i in range(n0 + k)}
            if left not in earlier or right not in earlier:
                fail("train_bpe_properties.merge_k_value", k=k, value=(left, right))
            if vocab[n0 + k] != left + right:
                fail("train_bpe_properties.vocab_value_merge", value=n0 + k, k=k,
                     expected=repr(left + right), got=repr(vocab[n0 + k]))

    prop()


@checks.behaviour("train_bpe_behaviour",
                  "train_bpe: ValueError when vocab_size < 256 + len(special_tokens); exactly that size "
                  "learns no merge; special_tokens is not modified", points=1,
                  uses=("train_bpe",),
                  zh="train_bpe：vocab_size < 256 + len(special_tokens) 时抛出 ValueError；恰好等于时不学习任何合并；"
                     "不修改 special_tokens")
def _(ctx):
    ctx.last_input = "train_bpe('ab ab', 255)"
    ctx.raises("ValueError", "train_bpe", "ab ab", 255)
    ctx.last_input = "train_bpe('ab ab', 257, special_tokens=['<a>', '<b>'])"
    ctx.raises("ValueError", "train_bpe", "ab ab", 257, special_tokens=["<a>", "<b>"])
    ctx.last_input = "train_bpe('ab ab ab', 256)"
    vocab, merges = _vocab_and_merges(ctx.call("train_bpe", "ab ab ab", 256))
    if merges or len(vocab) != 256:
        fail("train_bpe_behaviour.vocab_size_256", got=f"{len(merges)} merges")
    specials = ["<a>", "<|sep|>", "<bb>"]                 # not sorted by length
    ctx.last_input = f"train_bpe('x<bb>y<a>x y', 270, special_tokens={specials})"
    reply = ctx.request({"op": "call", "target": {"module": ctx.exercise, "attr": "train_bpe"},
                         "args": ["x<bb>y<a>x y", 270], "kwargs": {"special_tokens": list(specials)},
                         "echo": True})
    if reply["kwargs"].get("special_tokens") != specials:
        fail("train_bpe_behaviour.train_bpe_modified",
             expected=repr(specials), got=repr(reply["kwargs"].get("special_tokens"))[:80])


@checks.quality("train_bpe_corpus",
                f"train_bpe on the shipped corpus (20 KB of Chinese and English, 2 special tokens) learns "
                f"the reference's 300 merges within {BUDGET_S} s", points=4,
                uses=("train_bpe",), timeout=BUDGET_S,
                zh=f"train_bpe 在附带的语料（20 KB 中英文，2 个特殊 token）上学到与参考相同的 300 个合并，"
                   f"限时 {BUDGET_S} 秒")
def _(ctx):
    data = corpus()
    n = len(data["merges"])
    ctx.last_input = (f"train_bpe(corpus: {len(data['text'].encode())} bytes, vocab_size={data['vocab_size']}, "
                      f"special_tokens={data['special_tokens']})")
    t0 = time.monotonic()
    out = ctx.call("train_bpe", data["text"], data["vocab_size"], data["special_tokens"])
    seconds = time.monotonic() - t0
    vocab, merges = _vocab_and_merges(out)
    same = next((k for k, (g, w) in enumerate(zip(merges, data["merges"])) if g != w), min(len(merges), n))
    if same < n or len(merges) != n:
        want = repr(data["merges"][same]) if same < n else "no more merges"
        got = repr(merges[same]) if same < len(merges) else "no more merges"
        fail("train_bpe_corpus.merges_learned_corpus", same=same, n=n, expected=want, got=got,
             error=msg("train_bpe_corpus.trained_in", seconds=seconds))
    if vocab != layout(data["merges"], data["special_tokens"]):
        fail("train_bpe_corpus.merges_right_vocabulary",
             error=msg("train_bpe_corpus.trained_in", seconds=seconds))


# --- bpe_encode / bpe_decode --------------------------------------------------------------------


@checks.compare("bpe_encode_reference",
                "bpe_encode matches the reference (lowest merge rank first, leftmost; chunks; special "
                "tokens as single ids, leftmost-longest)", points=4, fn="bpe_encode",
                zh="bpe_encode 与参考一致（合并序号最小者优先，取最左边；按块编码；"
                   "特殊 token 为单个 id，最左最长匹配）")
def _(rng):
    toy = layout(TOY_MERGES, [])
    words = ["abc", " abc", " ab", "bcd", " bcd", "dd", " dd", "ddd", "abab", " a", "中", "中中", "ddbcdd", " bcdbcd"]
    yield Case(args=(" ".join(_pick(rng, words, 8)), toy, TOY_MERGES),
               label=msg("bpe_encode_reference.case_small_merge_list_rank"))
    overlap = layout(OVERLAP_MERGES, [])
    runs = [" " + "a" * int(n) for n in rng.integers(1, 9, size=4)]
    yield Case(args=("".join(runs), overlap, OVERLAP_MERGES),
               label=msg("bpe_encode_reference.case_runs_one_byte_aaaaa"))
    vocab, merges, sp = corpus_bpe(int(rng.integers(40, 120)), specials=False)
    yield Case(args=(_mixed_text(rng, 14), vocab, merges),
               label=msg("bpe_encode_reference.case_merges_learned_corpus_prefix"))
    data = corpus()
    start = int(rng.integers(0, len(data["heldout"]) - 200))
    vocab, merges, sp = corpus_bpe(int(rng.integers(150, 300)))
    yield Case(args=(data["heldout"][start:start + 160] + "<|endoftext|>  x<|sep|>", vocab, merges),
               kwargs={"special_tokens": sp}, label=msg("bpe_encode_reference.case_held_out_text_special"))
    toy_sp = layout(TOY_MERGES, TOY_SPECIALS)
    text = "".join(_pick(rng, ["<s>", "<s>!", "</s>", "abc", " a", "!", "<", "s>"], 10))
    yield Case(args=(text, toy_sp, TOY_MERGES, TOY_SPECIALS),
               label=msg("bpe_encode_reference.case_overlapping_special_tokens_s"))
    vocab, merges, sp = corpus_bpe(int(rng.integers(40, 300)))
    yield Case(args=("<|endoftext|>" + _mixed_text(rng, 6), vocab, merges),
               kwargs={"special_tokens": []}, label=msg("bpe_encode_reference.case_special_tokens_endoftext_ordinary"))


@checks.compare("bpe_decode_reference",
                "bpe_decode matches the reference (the joined bytes decoded with errors='replace')", points=2,
                fn="bpe_decode",
                zh="bpe_decode 与参考一致（先拼接字节，再用 errors='replace' 解码）")
def _(rng):
    vocab, merges, sp = corpus_bpe(int(rng.integers(100, 300)))
    n0 = 258
    ids = [int(i) for i in rng.integers(n0, len(vocab), size=8)]
    yield Case(args=(ids, vocab), label=msg("bpe_decode_reference.case_merged_tokens"))
    zh = "中文模型"
    cut = list("中".encode())[:int(rng.integers(1, 3))]
    yield Case(args=([*cut, 32, *cut], vocab), label=msg("bpe_decode_reference.case_ids_that_cut_chinese"))
    whole = list(zh.encode())
    yield Case(args=([*whole[:4], 256, *whole[4:], 257], vocab),
               label=msg("bpe_decode_reference.case_specials_inside_character_s"))
    partial = [i for i in range(n0, len(vocab)) if vocab[i][:1] >= b"\xe0" and len(vocab[i]) <= 2] or [228]
    yield Case(args=(_pick(rng, partial, 3) + list("🤗".encode())[:3] + [int(rng.integers(97, 123))], vocab),
               label=msg("bpe_decode_reference.case_incomplete_characters_emoji_cut"))
    yield Case(args=([], vocab))


@checks.property("bpe_roundtrip",
                 "bpe_decode(bpe_encode(x)) == x for arbitrary Unicode (emoji, Chinese, combining marks, "
                 "whitespace runs), with and without special tokens", points=3,
                 uses=("bpe_encode", "bpe_decode"),
                 zh="对任意 Unicode 文本（emoji、中文、组合字符、连续空白）bpe_decode(bpe_encode(x)) == x，"
                    "有无特殊 token 都一样")
def _(ctx):
    full = corpus_bpe(150)
    short = corpus_bpe(40, specials=False)

    @ctx.given(texts, st.booleans())
    def prop(text, use_full):
        vocab, merges, sp = full if use_full else short
        ids = _ids(ctx.call("bpe_encode", text, vocab, merges, sp), "bpe_encode")
        if any(i not in vocab for i in ids):
            fail("bpe_roundtrip.bpe_encode_returned",
                 got=repr(next(i for i in ids if i not in vocab)))
        back = _str(ctx.call("bpe_decode", ids, vocab), "bpe_decode")
        if back != text:
            fail("bpe_roundtrip.bpe_decode_bpe", expected=repr(text)[:80], got=repr(back)[:80])

    prop()


@checks.property("bpe_specials",
                 "special tokens come out of bpe_encode as single ids, in order, never split; with "
                 "special_tokens=[] they are ordinary text", points=2,
                 uses=("bpe_encode",),
                 zh="bpe_encode 把特殊 token 编码为单个 id，顺序不变，从不拆开；special_tokens=[] 时它们只是普通文本")
def _(ctx):
    vocab, merges, sp = corpus_bpe(60)
    ids_of = {s: 256 + k for k, s in enumerate(sp)}

    @ctx.given(st.lists(st.tuples(plain_texts, st.sampled_from(sp)), min_size=1, max_size=4), plain_texts)
    def prop(parts, tail):
        text = "".join(p + s for p, s in parts) + tail
        want = [ids_of[s] for _, s in parts]
        ids = _ids(ctx.call("bpe_encode", text, vocab, merges, sp), "bpe_encode")
        got = [i for i in ids if i in ids_of.values()]
        if got != want:
            fail("bpe_specials.special_tokens_text", input=repr(text)[:120], expected=repr(want), got=repr(got))
        ids = _ids(ctx.call("bpe_encode", text, vocab, merges, []), "bpe_encode")
        if any(i in ids_of.values() for i in ids):
            fail("bpe_specials.special_tokens_special",
                 input=repr(text)[:120])

    prop()


@checks.behaviour("bpe_encode_behaviour",
                  "bpe_encode: ValueError for a lone surrogate; '' gives []; vocab and merges are not modified",
                  points=1, uses=("bpe_encode",),
                  zh="bpe_encode：孤立的代理字符抛出 ValueError；'' 得到 []；不修改 vocab 与 merges")
def _(ctx):
    vocab, merges, sp = corpus_bpe(80)
    sp = sp[::-1]                                          # ["<|sep|>", "<|endoftext|>"]: not sorted by length
    ctx.last_input = "bpe_encode('ab\\ud800c', vocab, merges)"
    _raises_value_error(ctx, "bpe_encode", "ab\ud800c", vocab, merges)
    ctx.last_input = "bpe_encode('', vocab, merges)"
    if _ids(ctx.call("bpe_encode", "", vocab, merges), "bpe_encode") != []:
        fail("bpe_encode_behaviour.bpe_encode")
    ctx.last_input = "bpe_encode('我是大学生 the model', vocab, merges, special_tokens)"
    reply = ctx.request({"op": "call", "target": {"module": ctx.exercise, "attr": "bpe_encode"},
                         "args": ["我是大学生 the model", vocab, merges, sp], "kwargs": {}, "echo": True})
    after = reply["args"]
    if after[1] != vocab or [tuple(m) for m in after[2]] != merges or after[3] != sp:
        fail("bpe_encode_behaviour.bpe_encode_modified")
