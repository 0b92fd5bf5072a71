"""The shipped reversal task (grader/data/seq2seq.npz) and the reference train_seq2seq.

- the file loads without pickle, is small and holds what the builder's docstring says;
- the held-out sources never occur among the training sources; official mode's fresh
  held-out sources follow the run's seed and were never shipped;
- the reference learns the task well above the pass mark within a quarter of the budget,
  is reproducible from its seed and leaves the caller's random state alone;
- an untrained model stays far below the pass mark.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
import seq2seq
import torch

from grader.course import seq2seq as checks

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "grader" / "data" / "make_seq2seq_data.py"
NPZ = ROOT / "grader" / "data" / "seq2seq.npz"
REFERENCE_AT_LEAST = 0.95  # the reference must clear the pass mark (0.90) by a margin


def _builder():
    spec = importlib.util.spec_from_file_location("make_seq2seq_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def task():
    return _builder().load(NPZ)


def test_npz_loads_without_pickle_and_is_small():
    assert NPZ.stat().st_size < 100_000
    with np.load(NPZ, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    for split, n in (("train", 1000), ("test", checks.N_HELD_OUT)):
        src, tgt, lens = arrays[f"{split}_src"], arrays[f"{split}_tgt"], arrays[f"{split}_len"]
        assert src.dtype == tgt.dtype == lens.dtype == np.int64
        assert src.shape == tgt.shape == (n, 5) and lens.shape == (n,)
        # no source occurs twice: training holds all 36 two-symbol sources, the held-out split
        # the unseen ones, 3-5 symbols
        assert lens.min() == (2 if split == "train" else 3) and lens.max() == 5
        real = np.arange(5)[None, :] < lens[:, None]
        assert (src[~real] == 0).all() and (tgt[~real] == 0).all()
        assert src[real].min() >= 3 and src[real].max() < 9
        assert set(src[real].tolist()) == set(range(3, 9))  # every symbol occurs
    assert all(arrays[k].shape == () for k in arrays if k.startswith("config/"))


def test_pairs_are_reversals_and_held_out(task):
    config, splits = task
    assert config["vocab_size"] == 9 and (config["pad_id"], config["bos_id"], config["eos_id"]) == (0, 1, 2)
    assert (config["first_symbol"], config["min_len"], config["max_len"]) == (3, 2, 5)
    for split in ("train", "test"):
        assert all(y == x[::-1] for x, y in splits[split])
    train = {tuple(x) for x, _ in splits["train"]}
    assert len(train) == len(splits["train"])
    assert not train & {tuple(x) for x, _ in splits["test"]}
    # the checks read the same pairs
    assert checks.task()[1] == splits


def test_fresh_held_out_sets_are_new_and_follow_the_seed(task):
    """Official mode scores on sources drawn with the run's seed: distinct, never shipped, from
    the shipped distribution (every length and symbol), as many as the shipped test split."""
    config, splits = task
    shipped = {tuple(x) for pairs in splits.values() for x, _ in pairs}
    assert checks.held_out_pairs(False, 7)[0] == splits["test"]
    a, b, c = (checks.held_out_pairs(True, s)[0] for s in (7, 7, 8))
    assert a == b and a != c
    for pairs in (a, c):
        sources = [tuple(x) for x, _ in pairs]
        assert len(pairs) == len(set(sources)) == checks.N_HELD_OUT
        assert not shipped & set(sources)
        assert all(y == x[::-1] for x, y in pairs)
        lengths = [len(x) for x in sources]
        assert min(lengths) >= config["min_len"] and max(lengths) == config["max_len"]
        assert 0.4 < np.mean(np.array(lengths) == config["max_len"]) < 0.7  # as in the shipped split
        assert {v for x in sources for v in x} == set(range(config["first_symbol"], config["vocab_size"]))


def test_builder_is_seeded():
    mk = _builder()
    a = mk.draw_sources(np.random.default_rng(0), 50, set())
    b = mk.draw_sources(np.random.default_rng(0), 50, set())
    assert a == b


@pytest.mark.slow
def test_reference_learns_reversal_within_a_quarter_of_the_budget(task):
    config, splits = task
    V, bos, eos = config["vocab_size"], config["bos_id"], config["eos_id"]
    rng_before = torch.get_rng_state()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                  # as in the grader's worker
    try:
        t0 = time.perf_counter()
        model = seq2seq.train_seq2seq(splits["train"], V, V, bos, eos)
        elapsed = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    for fresh in (False, True):
        acc = _builder().exact_match(model, checks.held_out_pairs(fresh, 0)[0], bos, eos)
        assert acc >= REFERENCE_AT_LEAST, f"reference exact match {acc:.3f} (fresh draw: {fresh})"
    assert elapsed < checks.BUDGET_S / 4, f"reference took {elapsed:.1f} s"
    assert torch.equal(rng_before, torch.get_rng_state())
    assert not model.training


def test_same_seed_same_model(task):
    config, splits = task
    args = (splits["train"][:64], config["vocab_size"], config["vocab_size"], config["bos_id"], config["eos_id"])
    a, b, c = (seq2seq.train_seq2seq(*args, epochs=1, seed=s) for s in (3, 3, 4))
    src = torch.randint(3, 9, (4, 5))
    tgt = torch.randint(3, 9, (4, 6))
    with torch.no_grad():
        la, lb, lc = (m(src, tgt) for m in (a, b, c))
    assert torch.equal(la, lb) and not torch.equal(la, lc)


def test_untrained_model_fails_the_pass_mark(task):
    config, splits = task
    V = config["vocab_size"]
    for seed in range(3):
        torch.manual_seed(seed)
        model = seq2seq.MiniTransformer(V, V, 6, 64, 4, 2).eval()
        assert _builder().exact_match(model, splits["test"], config["bos_id"], config["eos_id"]) < 0.1


def test_bad_pairs_raise():
    with pytest.raises(ValueError):
        seq2seq.train_seq2seq([], 9, 9, 1, 2)
    with pytest.raises(ValueError):
        seq2seq.train_seq2seq([([3, 4], [])], 9, 9, 1, 2)
