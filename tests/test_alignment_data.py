"""The shipped preference task (grader/data/alignment.npz) and the reference dpo_train.

- the file loads without pickle, is small, and holds what the builder's docstring says: the
  chat format of the reference build_sft_example + collate, chosen = the prompt's letters in
  alphabetical order, rejected = another order of the same letters;
- the reference trains well above the pass mark within a quarter of the time budget, and
  leaves the policy, the reference (values and requires_grad flags, no .grad) and torch's
  global random state as they were;
- no training (policy = reference) and training the wrong way round stay far below it.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import alignment
import models
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "grader" / "data" / "make_alignment_data.py"
NPZ = ROOT / "grader" / "data" / "alignment.npz"
THRESHOLD = 0.90          # what a submission must reach (grader/course/alignment.py)
REFERENCE_AT_LEAST = 0.95
BUDGET_S = 60.0           # the check's budget; the reference must use under a quarter of it
KEYS = ("vocab_size", "max_len", "d_model", "n_heads", "n_layers", "d_ff")


def _builder():
    spec = importlib.util.spec_from_file_location("make_alignment_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def task():
    mk = _builder()
    config, state, data = mk.load(NPZ)

    def fresh():
        m = models.MiniGPT(**{k: config[k] for k in KEYS})
        m.load_state_dict(state)
        return m

    return mk, config, fresh, data


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _decode(vocab, row):
    return "".join(vocab[i] for i in row)


def test_npz_loads_without_pickle_and_is_small():
    assert NPZ.stat().st_size < 300_000
    with np.load(NPZ, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    vocab = [str(t) for t in arrays["vocab"]]
    assert vocab[:6] == ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "\n"]
    assert all(arrays[k].dtype == np.float32 for k in arrays if k.startswith("model/"))
    assert all(arrays[k].shape == () for k in arrays if k.startswith("config/"))
    for split in ("train", "test"):
        rows = {}
        for side in ("chosen", "rejected"):
            ids, labels, mask = (arrays[f"{split}_{side}_{k}"] for k in ("ids", "labels", "mask"))
            assert ids.dtype == labels.dtype == np.int64 and mask.dtype == np.bool_
            assert ids.shape == labels.shape == mask.shape == (256, ids.shape[1])
            assert ids.shape[1] <= int(arrays["config/max_len"])
            assert np.array_equal(mask, ids != 0) and (np.diff(mask.astype(np.int8), axis=1) <= 0).all()
            assert (labels[~mask] == -100).all() and np.array_equal(labels[labels != -100], ids[labels != -100])
            rows[side] = [_decode(vocab, r[m]) for r, m in zip(ids, mask)]
        for chosen, rejected in zip(rows["chosen"], rows["rejected"]):
            prompt = chosen.split("<|user|>\n")[1].split("<|end|>")[0]
            answer = chosen.split("<|assistant|>\n")[1].split("<|end|>")[0]
            worse = rejected.split("<|assistant|>\n")[1].split("<|end|>")[0]
            assert chosen == alignment.format_chat([{"role": "user", "content": prompt},
                                                    {"role": "assistant", "content": answer}])
            assert rejected.startswith(f"<|user|>\n{prompt}<|end|>\n")
            assert answer == "".join(sorted(prompt)) and sorted(worse) == sorted(prompt) and worse != answer


def test_held_out_pairs_are_not_training_pairs(task):
    _, _, _, data = task
    train = {tuple(a) + tuple(b) for a, b in zip(data["train_chosen_ids"].tolist(), data["train_rejected_ids"].tolist())}
    test = {tuple(a) + tuple(b) for a, b in zip(data["test_chosen_ids"].tolist(), data["test_rejected_ids"].tolist())}
    assert not train & test


def test_reference_dpo_train_passes_within_a_quarter_of_the_budget(task):
    mk, _, fresh, data = task
    policy, reference = fresh(), fresh()
    before_policy, before_reference = _snapshot(policy), _snapshot(reference)
    rng_before = torch.get_rng_state()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                # as in the grader's worker
    try:
        torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])   # the first optimizer imports a lot: not timed
        t0 = time.perf_counter()
        trained = alignment.dpo_train(policy, reference, mk.batch(data, "train", "chosen"),
                                      mk.batch(data, "train", "rejected"))
        elapsed = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    acc = mk.preference_accuracy(trained, reference, data)
    assert acc >= REFERENCE_AT_LEAST, f"reference accuracy {acc:.3f}"
    assert elapsed < BUDGET_S / 4, f"reference took {elapsed:.1f} s"
    assert trained is not policy and not trained.training
    for model, before in ((policy, before_policy), (reference, before_reference)):
        after = model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
        assert all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in reference.parameters())
    assert torch.equal(rng_before, torch.get_rng_state())


def test_no_training_and_the_wrong_direction_fail(task):
    mk, _, fresh, data = task
    policy, reference = fresh(), fresh()
    assert mk.preference_accuracy(policy, reference, data) == 0.0           # every implicit reward is 0
    chosen, rejected = mk.batch(data, "train", "chosen"), mk.batch(data, "train", "rejected")
    swapped = alignment.dpo_train(policy, reference, rejected, chosen, epochs=2)
    assert mk.preference_accuracy(swapped, reference, data) < THRESHOLD - 0.5


def test_same_seed_same_model(task):
    mk, _, fresh, data = task
    policy, reference = fresh(), fresh()
    chosen = tuple(t[:64] for t in mk.batch(data, "train", "chosen"))
    rejected = tuple(t[:64] for t in mk.batch(data, "train", "rejected"))
    a, b, c = (alignment.dpo_train(policy, reference, chosen, rejected, epochs=1, seed=s) for s in (3, 3, 4))
    ids = data["test_chosen_ids"][:8]
    with torch.no_grad():
        la, lb, lc = a(ids), b(ids), c(ids)
    assert torch.equal(la, lb) and not torch.equal(la, lc)
