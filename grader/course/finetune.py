"""Checks for `finetune`: LoRA fine-tuning of a small pretrained MiniBERT on a shipped task.

The task (``grader/data/finetune.npz``, built by ``grader/data/make_finetune_data.py``; read
here with ``np.load(allow_pickle=False)``): a synthetic language of 40 ids, four topics of
seven words plus nine function words; the label of a sentence (4 classes) is the topic with
the most words in it. A MiniBERT (D=32, 2 layers, 2 heads, max_len 16) was pre-trained on
it by mask filling. 256 labelled training and 512 held-out sentences.

Local mode scores on the shipped held-out sentences. Official mode never does: their labels
ship with the student release, so a submission could look them up. It scores on 512
sentences drawn afresh from the same language with the run's seed (none equal to a shipped
one), which only a classifier that learned the task gets right.

Measured in CPU time on one thread (see the builder's docstring): the reference (4 epochs at
lr 1e-2 over the 256 training sentences) reaches 0.920-0.947 held-out accuracy (seeds 0-4;
0.926-0.955 on sentences drawn afresh as in official mode) in 0.19 s of CPU (the former
default, 5 epochs over 512 sentences, 0.36 s); other reasonable choices ([CLS] pooling, 5 epochs
at lr 5e-3, 10 epochs at lr 5e-3) 0.88-0.95; one epoch 0.59-0.74; a random head on the same
encoder 0.06-0.31 (chance 0.25). The pass mark is 0.80 within 60 s (a generous budget: the
grading machine may be slow or busy).

The student's MiniBERT (exercise `models`) is built in the worker and loaded with the
checkpoint, so this exercise needs `models`, `heads` and `lora` to work.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from grader.checks import Checks, expect_array, fail
from grader.messages import msg

checks = Checks("finetune")

# --- the task's language (grader/data/make_finetune_data.py drew the shipped data with it) -----

PAD, CLS, MASK = 0, 1, 2
N_TOPICS, TOPIC_WORDS, N_FUNCTION = 4, 7, 9
MAX_LEN = 16
MIN_WORDS, MAX_WORDS = 7, MAX_LEN - 1
P_FUNCTION, P_MAIN = 0.3, 0.7


def topic_words(t: int) -> np.ndarray:
    return 3 + t * TOPIC_WORDS + np.arange(TOPIC_WORDS)


FUNCTION_WORDS = 3 + N_TOPICS * TOPIC_WORDS + np.arange(N_FUNCTION)


def draw_sentences(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n sentences: (ids int64 [n, MAX_LEN], mask bool [n, MAX_LEN], labels int64 [n])."""
    ids = np.full((n, MAX_LEN), PAD, dtype=np.int64)
    labels = np.empty(n, dtype=np.int64)
    i = 0
    while i < n:
        length = rng.integers(MIN_WORDS, MAX_WORDS + 1)
        main = rng.integers(N_TOPICS)
        words, counts = [], np.zeros(N_TOPICS, dtype=np.int64)
        for _ in range(length):
            if rng.random() < P_FUNCTION:
                words.append(rng.choice(FUNCTION_WORDS))
                continue
            t = main if rng.random() < P_MAIN else rng.choice([u for u in range(N_TOPICS) if u != main])
            counts[t] += 1
            words.append(rng.choice(topic_words(t)))
        top = np.flatnonzero(counts == counts.max())
        if len(top) != 1:                         # a tie: no clear topic, draw again
            continue
        ids[i, 0] = CLS
        ids[i, 1 : 1 + length] = words
        labels[i] = top[0]
        i += 1
    return ids, ids != PAD, labels


def fresh_sentences(rng: np.random.Generator, n: int, exclude: np.ndarray) -> tuple[np.ndarray, ...]:
    """``n`` sentences drawn with ``rng``, none equal to a row of ``exclude`` (the shipped
    ones): held-out data a submission cannot have seen or looked up."""
    known = {row.tobytes() for row in exclude}
    parts: list[tuple[np.ndarray, ...]] = []
    got = 0
    while got < n:
        ids, mask, labels = draw_sentences(rng, n - got)
        keep = np.array([row.tobytes() not in known for row in ids], dtype=bool)
        known.update(row.tobytes() for row in ids)
        parts.append((ids[keep], mask[keep], labels[keep]))
        got += int(keep.sum())
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))

DATA = Path(__file__).resolve().parent.parent / "data" / "finetune.npz"
THRESHOLD = 0.80
BUDGET_S = 60
CONFIG_KEYS = ("vocab_size", "max_len", "d_model", "n_heads", "n_layers", "d_ff")


@lru_cache(maxsize=1)
def task() -> tuple[dict[str, int], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(config, pretrained state_dict, data arrays), read without pickle."""
    with np.load(DATA, allow_pickle=False) as f:
        config = {k[len("config/"):]: int(f[k]) for k in f.files if k.startswith("config/")}
        state = {k[len("model/"):]: f[k] for k in f.files if k.startswith("model/")}
        data = {k: f[k] for k in f.files if "/" not in k}
    return config, state, data


def _pretrained(ctx):
    """The student's MiniBERT, loaded with the shipped checkpoint (kept in the worker)."""
    config, state, _ = task()
    bert = ctx.new_from("models", "MiniBERT", *(config[k] for k in CONFIG_KEYS))
    bert.load_state_dict(state)
    return bert


def _logits(clf, ids: np.ndarray, mask: np.ndarray, num_labels: int) -> np.ndarray:
    out = expect_array(clf(ids, mask), (len(ids), num_labels), what="classifier(ids, attention_mask)")
    if out.dtype.kind != "f" or not np.all(np.isfinite(out)):
        fail("logits.classifier_s_logits", got=f"{out.dtype}, finite: {np.isfinite(out).all()}")
    return out


def _short_run(ctx, bert, n: int = 128, **kwargs):
    """A quick fine-tune (2 epochs on n sentences) for the structural checks."""
    config, _, data = task()
    kwargs = {"epochs": 2, **kwargs}
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    ctx.last_input = f"finetune_classifier(pretrained MiniBERT, first {n} training sentences, num_labels=4, {args})"
    return ctx.store("finetune_classifier", bert, data["train_ids"][:n], data["train_mask"][:n],
                     data["train_labels"][:n], config["num_labels"], **kwargs)


def held_out_set(ctx) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(ids, mask, labels, description) the classifier is scored on. Local mode: the shipped
    held-out split. Official mode: 512 sentences drawn afresh from the task's language with
    the run's seed, none of them shipped: the released labels are worth nothing there."""
    _, _, data = task()
    if ctx.mode != "official":
        return data["test_ids"], data["test_mask"], data["test_labels"], "the 512 shipped held-out sentences"
    rng = np.random.default_rng([ctx.seed % 2**63, 0xF17E])
    shipped = np.concatenate([data["train_ids"], data["test_ids"]])
    ids, mask, labels = fresh_sentences(rng, len(data["test_labels"]), shipped)
    return ids, mask, labels, "512 held-out sentences drawn fresh for this run"


@checks.quality("finetune_quality",
                f"finetune_classifier reaches >= {THRESHOLD:.2f} held-out accuracy (4 classes, 512 sentences) "
                f"within {BUDGET_S} s", points=6,
                uses=("finetune_classifier", "SequenceClassifier"), timeout=BUDGET_S,
                zh=f"finetune_classifier 在 512 个留出句子上（4 类）准确率至少 {THRESHOLD:.2f}，限时 {BUDGET_S} 秒")
def _(ctx):
    config, _, data = task()
    test_ids, test_mask, test_labels, held_out = held_out_set(ctx)
    bert = _pretrained(ctx)
    ctx.last_input = ("finetune_classifier(pretrained MiniBERT, 256 training sentences [256, 16], num_labels=4, "
                      f"default r, alpha, epochs, lr, seed=0); accuracy on {held_out}")
    t0 = time.monotonic()
    clf = ctx.store("finetune_classifier", bert, data["train_ids"], data["train_mask"], data["train_labels"],
                    config["num_labels"], seed=0)
    seconds = time.monotonic() - t0
    logits = _logits(clf, test_ids, test_mask, config["num_labels"])
    acc = float((logits.argmax(-1) == test_labels).mean())
    ctx.reached(acc, THRESHOLD, "held-out accuracy", "留出集准确率", seconds, BUDGET_S)
    if acc < THRESHOLD:
        fail("finetune_quality.fine_tuned_classifier",
             expected=f">= {THRESHOLD:.2f} (reference: about 0.94; an untrained head: about 0.25)",
             got=f"{acc:.3f}")


@checks.behaviour("finetune_model_unchanged",
                  "finetune_classifier works on a copy: the MiniBERT it was given is unchanged", points=2,
                  uses=("finetune_classifier",), timeout=BUDGET_S,
                  zh="finetune_classifier 在副本上微调：传入的 MiniBERT 保持不变")
def _(ctx):
    _, state, _ = task()
    bert = _pretrained(ctx)
    _short_run(ctx, bert)
    after = bert.state_dict()
    if set(after) != set(state):
        fail("finetune_model_unchanged.model_given_changed",
             expected=", ".join(sorted(state)[:3]) + ", …",
             got="new or renamed: " + ", ".join(sorted(set(after) ^ set(state))[:3]))
    changed = [k for k in state if not np.array_equal(np.asarray(after[k]), state[k])]
    if changed:
        fail("finetune_model_unchanged.weights_model_given",
             got="changed: " + ", ".join(changed[:4]))
    frozen = [name for name, _, grad, _ in bert.params() if not grad]
    if frozen:
        fail("finetune_model_unchanged.parameters_model_given", got=", ".join(frozen[:4]))


@checks.behaviour("finetune_frozen_base",
                  "only LoRA and the head train: every pretrained weight is unchanged in the returned "
                  "classifier, and the LoRA matrices did move", points=2,
                  uses=("finetune_classifier",), timeout=BUDGET_S,
                  zh="只训练 LoRA 与分类头：返回的分类器中所有预训练权重保持不变，而 LoRA 矩阵确实被更新了")
def _(ctx):
    _, state, _ = task()
    clf = _short_run(ctx, _pretrained(ctx))
    sd = clf.state_dict()
    held = [np.asarray(v) for v in sd.values()]
    missing = [k for k, v in state.items()
               if not any(h.shape == v.shape and np.array_equal(h, v) for h in held)]
    if missing:
        fail("finetune_frozen_base.pretrained_weights_changed",
             expected="every pretrained weight of the checkpoint, unchanged, inside the returned classifier",
             got="changed: " + ", ".join(missing[:4]))
    # the other direction: LoRA trains. lora_B starts at 0 (the LoRA contract), so after two
    # epochs every lora_B must have moved away from 0
    still = [k for k, v in sd.items() if k.endswith("lora_B") and not np.any(np.asarray(v))]
    if still:
        fail("finetune_frozen_base.lora_matrices_never",
             expected="every lora_B changed from its initial 0", got="still 0: " + ", ".join(still[:4]))


@checks.behaviour("finetune_lora_targets",
                  "the returned classifier trains exactly LoRA(r) on q_proj, k_proj, v_proj, o_proj of every "
                  "block plus the head", points=2,
                  uses=("finetune_classifier",), timeout=BUDGET_S,
                  zh="返回的分类器可训练的参数恰好是每个块的 q_proj、k_proj、v_proj、o_proj 上的 LoRA(r) 与分类头")
def _(ctx):
    config, _, _ = task()
    r = 2
    clf = _short_run(ctx, _pretrained(ctx), r=r, alpha=4.0)
    seen: set[int] = set()
    n = 0
    for _, shape, grad, ident in clf.params():
        if grad and ident not in seen:
            seen.add(ident)
            n += int(np.prod(shape))
    D, L, C = config["d_model"], config["n_layers"], config["num_labels"]
    lora = 4 * L * r * (D + D)
    head = D * C + C
    if n != lora + head:
        why = (msg("finetune_lora_targets.why_only_head_trainable") if n == head else
               msg("finetune_lora_targets.why_everything_trainable_pretrained") if n > 10 * (lora + head) else
               msg("finetune_lora_targets.why_lora_wrong_layers"))
        fail("finetune_lora_targets.wrong_number_trainable", why=why,
             expected=f"{lora + head} = LoRA 4 projections × {L} blocks × r·(D + D) = {lora}, + head {head}",
             got=str(n))


@checks.behaviour("finetune_seed",
                  "finetune_classifier follows its seed: the same seed gives the same classifier, another "
                  "seed another one", points=1,
                  uses=("finetune_classifier",), timeout=BUDGET_S,
                  zh="finetune_classifier 遵循 seed：相同的 seed 得到相同的分类器，不同的 seed 得到不同的分类器")
def _(ctx):
    config, _, data = task()
    bert = _pretrained(ctx)
    ids, mask = data["test_ids"][:32], data["test_mask"][:32]
    runs = [_logits(_short_run(ctx, bert, 64, epochs=1, seed=s), ids, mask, config["num_labels"])
            for s in (1, 1, 2)]
    ctx.last_input = "finetune_classifier(..., epochs=1, seed=s) on 64 sentences for s = 1, 1, 2"
    if not np.array_equal(runs[0], runs[1]):
        fail("finetune_seed.two_runs_seed")
    if np.array_equal(runs[0], runs[2]):
        fail("finetune_seed.seed_1_seed")
