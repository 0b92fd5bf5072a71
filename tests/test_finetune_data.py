"""The shipped fine-tuning task (grader/data/finetune.npz) and the reference finetune_classifier.

- the file loads without pickle and holds what the builder's docstring says;
- the reference fine-tunes well above the pass threshold within the time budget, leaves
  the pretrained model unchanged and trains only LoRA + head parameters;
- an untrained classifier (random head, no training) stays far below the threshold.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import finetune
import heads
import lora
import models
import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "grader" / "data" / "make_finetune_data.py"
NPZ = ROOT / "grader" / "data" / "finetune.npz"
THRESHOLD = 0.8          # what a submission must reach on the held-out sentences
REFERENCE_AT_LEAST = 0.9  # the reference must clear the threshold by a wide margin
BUDGET_S = 30.0           # generous: the reference takes 2-6 s on one (shared) core
KEYS = ("vocab_size", "max_len", "d_model", "n_heads", "n_layers", "d_ff")


def _builder():
    spec = importlib.util.spec_from_file_location("make_finetune_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def task():
    config, state, data = _builder().load(NPZ)
    torch.manual_seed(0)
    model = models.MiniBERT(**{k: config[k] for k in KEYS})
    model.load_state_dict(state)
    return config, model.eval(), data


def _accuracy(clf: nn.Module, data) -> float:
    with torch.no_grad():
        logits = clf(data["test_ids"], data["test_mask"])
    assert logits.shape == (len(data["test_labels"]), 4)
    return (logits.argmax(-1) == data["test_labels"]).double().mean().item()


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_npz_loads_without_pickle_and_is_small():
    assert NPZ.stat().st_size < 1_000_000
    with np.load(NPZ, allow_pickle=False) as f:
        files = set(f.files)
        arrays = {k: f[k] for k in files}
    for split in ("train", "test"):
        ids, mask, labels = arrays[f"{split}_ids"], arrays[f"{split}_mask"], arrays[f"{split}_labels"]
        assert ids.dtype == np.int64 and mask.dtype == np.bool_ and labels.dtype == np.int64
        assert ids.shape == mask.shape == (len(labels), 16)
        assert (ids[:, 0] == 1).all() and np.array_equal(mask, ids != 0)
        assert ids.min() >= 0 and ids.max() < 40 and set(np.unique(labels)) == {0, 1, 2, 3}
        # right padding: once a row is padding it stays padding
        assert (np.diff(mask.astype(np.int8), axis=1) <= 0).all()
    assert all(arrays[k].dtype == np.float32 for k in files if k.startswith("model/"))
    assert all(arrays[k].shape == () for k in files if k.startswith("config/"))
    assert {f"config/{k}" for k in KEYS + ("num_labels", "pad_id", "cls_id", "mask_id")} <= files


def test_state_dict_loads_into_minibert(task):
    config, model, _ = task
    assert model.lm_head.proj.weight is model.tok_emb.weight
    assert config["num_labels"] == 4 and config["vocab_size"] == 40


def test_labels_follow_the_language():
    """The label is the topic with the most content words (a property of the whole sentence)."""
    mk = _builder()
    ids, mask, labels = mk.draw_sentences(np.random.default_rng(0), 200)
    for row, y in zip(ids, labels):
        counts = [np.isin(row, mk.topic_words(t)).sum() for t in range(mk.N_TOPICS)]
        assert np.argmax(counts) == y and sorted(counts)[-2] < counts[y]
    again = mk.draw_sentences(np.random.default_rng(0), 200)
    assert all(np.array_equal(a, b) for a, b in zip((ids, mask, labels), again))


def test_reference_finetunes_above_threshold_within_budget(task):
    config, model, data = task
    before = _snapshot(model)
    rng_before = torch.get_rng_state()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                  # as in the grader's worker
    try:
        t0 = time.perf_counter()
        clf = finetune.finetune_classifier(
            model, data["train_ids"], data["train_mask"], data["train_labels"], config["num_labels"]
        )
        elapsed = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    acc = _accuracy(clf, data)
    assert acc >= REFERENCE_AT_LEAST, f"reference accuracy {acc:.3f}"
    assert elapsed < BUDGET_S, f"reference took {elapsed:.1f} s"
    # the caller's model and global random state are untouched
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in model.parameters())
    assert not any(isinstance(m, lora.LoRALinear) for m in model.modules())
    assert torch.equal(rng_before, torch.get_rng_state())
    # only LoRA (4 projections x 2 layers) and the head were trainable
    d, r = config["d_model"], 4
    expected = 4 * config["n_layers"] * r * (d + d) + d * 4 + 4
    assert lora.count_trainable_parameters(clf) == expected
    trained = {k: v for k, v in clf.encoder.state_dict().items() if "lora_" not in k}
    renamed = {k.replace(".base.", "."): v for k, v in trained.items()}
    assert renamed.keys() == before.keys()
    assert all(torch.equal(before[k], renamed[k]) for k in before)
    assert not clf.training


def test_same_seed_same_classifier(task):
    config, model, data = task
    args = (model, data["train_ids"][:64], data["train_mask"][:64], data["train_labels"][:64], 4)
    a = finetune.finetune_classifier(*args, epochs=2, seed=3)
    b = finetune.finetune_classifier(*args, epochs=2, seed=3)
    c = finetune.finetune_classifier(*args, epochs=2, seed=4)
    with torch.no_grad():
        la, lb, lc = (m(data["test_ids"][:32], data["test_mask"][:32]) for m in (a, b, c))
    assert torch.equal(la, lb) and not torch.equal(la, lc)


def test_untrained_classifier_fails_threshold(task):
    config, model, data = task
    accs = []
    for seed in range(10):
        torch.manual_seed(seed)
        for pooling in ("mean", "cls"):
            head = heads.ClassificationHead(config["d_model"], config["num_labels"], pooling)
            accs.append(_accuracy(finetune.SequenceClassifier(model, head), data))
    assert max(accs) < THRESHOLD - 0.2, accs


@pytest.mark.parametrize(
    "kwargs", [dict(num_labels=1), dict(train_labels=torch.full((8,), 4)), dict(train_mask=torch.ones(8, 3, dtype=torch.bool))]
)
def test_bad_arguments(task, kwargs):
    _, model, data = task
    args = dict(model=model, train_ids=data["train_ids"][:8], train_mask=data["train_mask"][:8],
                train_labels=data["train_labels"][:8], num_labels=4, epochs=1)
    with pytest.raises(ValueError):
        finetune.finetune_classifier(**{**args, **kwargs})
