"""The shipped BPE corpus (grader/data/tokenizer.npz) and the reference train_bpe on it.

- the file loads without pickle and holds what the builder's docstring says;
- the builder's seeded script makes the same texts again, byte for byte;
- the reference learns exactly the shipped merges, well inside the check's time budget;
- the corpus tells the tie rule apart: breaking ties by first occurrence, or counting each
  distinct chunk once, learns other merges.
"""

from __future__ import annotations

import importlib.util
import time
from collections import Counter
from pathlib import Path

import numpy as np
import tokenizer

from grader.course.tokenizer import BUDGET_S, corpus, layout

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "grader" / "data" / "make_tokenizer_data.py"
NPZ = ROOT / "grader" / "data" / "tokenizer.npz"


def _builder():
    spec = importlib.util.spec_from_file_location("make_tokenizer_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_file_holds_plain_arrays():
    with np.load(NPZ, allow_pickle=False) as f:
        assert set(f.files) == {"corpus", "heldout", "special_tokens", "vocab_size", "merge_bytes", "merge_lengths"}
        assert f["corpus"].dtype == np.uint8 and f["merge_lengths"].shape == (300, 2)
        assert f["merge_lengths"].sum() == f["merge_bytes"].size
    data = corpus()
    assert data["special_tokens"] == ["<|endoftext|>", "<|sep|>"]
    assert data["vocab_size"] == 256 + 2 + 300
    assert 15_000 < len(data["text"].encode()) < 300_000
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in data["text"]) > 2500           # Chinese
    assert data["text"].count("<|endoftext|>") > 30 and "<|sep|>" in data["text"]
    assert NPZ.stat().st_size < 100_000


def test_the_seeded_script_makes_the_same_texts():
    builder = _builder()
    data = corpus()
    assert builder.make_text(builder.SEED, builder.CORPUS_DOCS) == data["text"]
    assert builder.make_text(builder.HELDOUT_SEED, builder.HELDOUT_DOCS) == data["heldout"]


def test_reference_learns_the_shipped_merges_within_the_budget():
    data = corpus()
    t0 = time.perf_counter()
    vocab, merges = tokenizer.train_bpe(data["text"], data["vocab_size"], data["special_tokens"])
    seconds = time.perf_counter() - t0
    assert merges == data["merges"]
    assert vocab == layout(merges, data["special_tokens"])
    assert seconds < BUDGET_S / 4, f"the reference took {seconds:.1f} s of a {BUDGET_S} s budget"
    assert not any(b"<|" in left + right for left, right in merges)                # specials never merged


def _train_with(text, vocab_size, specials, choose, weighted=True):
    chunks = Counter(p for p in tokenizer.pretokenize(text, specials) if p not in set(specials))
    words = {tuple(bytes([b]) for b in c.encode()): (n if weighted else 1) for c, n in chunks.items()}
    merges = []
    for _ in range(vocab_size - 256 - len(specials)):
        counts = Counter()
        for w, n in words.items():
            for pair in zip(w, w[1:]):
                counts[pair] += n
        pair = choose(counts)
        words = {tokenizer.merge_pair(w, pair): n for w, n in words.items()}
        merges.append(pair)
    return merges


def test_the_corpus_tells_the_tie_rule_apart():
    data = corpus()
    args = (data["text"], data["vocab_size"], data["special_tokens"])
    assert _train_with(*args, lambda c: max(c, key=lambda p: (c[p], p))) == data["merges"]
    assert _train_with(*args, lambda c: max(c, key=c.get)) != data["merges"]
    assert _train_with(*args, lambda c: max(c, key=lambda p: (c[p], p)), weighted=False) != data["merges"]
