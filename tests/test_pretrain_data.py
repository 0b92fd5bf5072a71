"""The shipped pre-training corpus (grader/data/pretrain.npz) and the reference pretrain_minigpt.

- the file loads without pickle, is small, and is exactly what its seeded builder draws;
- the language follows the grammar the builder's docstring states, and the exact predictive
  distribution (the floor no model beats) is a proper distribution that beats n-grams;
- the reference pre-trains well below the pass mark in under a quarter of the time budget
  (and in little CPU time), deterministically per seed; an untrained MiniGPT is far above
  the mark, with nn.Embedding's initialisation or the reference's;
- official mode scores on held-out text drawn afresh with the run's seed, not the shipped one;
- a passing quality check reports its metric (a check may return a note; shown in the report).
"""

from __future__ import annotations

import importlib.util
import io
import time
from pathlib import Path
from types import SimpleNamespace

import models
import numpy as np
import pretrain
import pytest
import torch

from grader.course import pretrain as checks

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "grader" / "data" / "make_pretrain_data.py"
NPZ = ROOT / "grader" / "data" / "pretrain.npz"
REFERENCE_AT_MOST = 6.0   # the reference must clear the pass mark (8.0) by a wide margin
REFERENCE_CPU_AT_MOST = 2.5   # seconds of CPU (one thread) to train: measured 0.6-0.7 s


def _builder():
    spec = importlib.util.spec_from_file_location("make_pretrain_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_npz_loads_without_pickle_is_small_and_reproducible():
    assert NPZ.stat().st_size < 200_000
    mk = _builder()
    with np.load(NPZ, allow_pickle=False) as f:
        assert set(f.files) == {"train", "valid", "vocab_size", "seed"}
        train, valid = f["train"], f["valid"]
        assert train.dtype == valid.dtype == np.uint8
        assert train.shape == (mk.N_TRAIN,) and valid.shape == (mk.N_VALID,)
        assert int(f["vocab_size"]) == mk.VOCAB == 48 and int(f["seed"]) == mk.SEED
    rng = np.random.default_rng(mk.SEED)
    assert np.array_equal(mk.draw_stream(rng, mk.N_TRAIN), train)
    assert np.array_equal(mk.draw_stream(rng, mk.N_VALID), valid)
    assert (len(valid) - 1) // checks.EVAL_CONTEXT == 256 and len(valid) == mk.N_VALID == 4097


def test_sentences_follow_the_grammar():
    mk = _builder()
    stream = mk.draw_stream(np.random.default_rng(0), 20_000)
    text = stream[: np.flatnonzero(stream == mk.DOT)[-1] + 1]
    sentences = np.split(text, np.flatnonzero(text == mk.DOT)[:-1] + 1)
    for s in sentences:
        nouns = np.flatnonzero((s >= mk.NOUN0) & (s < mk.VERB0))
        verbs = np.flatnonzero(s >= mk.VERB0)
        assert len(nouns) == 2 and len(verbs) == 1 and s[-1] == mk.DOT and s[-2] == s[nouns[1]]
        subj, verb = s[nouns[0]], s[verbs[0]]
        assert verbs[0] == nouns[0] + 1 and (subj - mk.NOUN0) % 2 == (verb - mk.VERB0) % 2   # agreement
        topic = (subj - mk.NOUN0) // (2 * mk.N_NOUNS)
        assert (s[nouns[1]] - mk.NOUN0) // (2 * mk.N_NOUNS) == topic                        # one topic
        assert (verb - mk.VERB0) // 2 in mk.topic_verbs(topic)
        for start, noun in ((0, nouns[0]), (verbs[0] + 1, nouns[1])):
            det, plural = s[start], (s[noun] - mk.NOUN0) % 2
            assert det in (mk.THE, mk.A, mk.SOME) and not (det == mk.A and plural) and not (det == mk.SOME and not plural)
            assert all(mk.ADJ0 <= t < mk.NOUN0 for t in s[start + 1:noun]) and noun - start - 1 <= 2


def test_exact_predictive_distribution_is_proper_and_beats_ngrams():
    mk = _builder()
    stream = mk.draw_stream(np.random.default_rng(2), 3_000)
    belief, sentence = np.full(mk.N_TOPICS, 0.25), []
    for t, x in enumerate(stream.tolist()):
        if t:
            p = mk.next_probs(belief, sentence)
            assert abs(p.sum() - 1) < 1e-12 and p[x] > 0
        belief = mk.update_belief(belief, sentence, x)
        sentence = [] if x == mk.DOT else sentence + [x]
    train, valid, _ = mk.load(NPZ)
    best = float(np.exp(mk.optimal_nll(valid).mean()))
    unigram, bigram = mk.ngram_perplexity(train, valid, 1), mk.ngram_perplexity(train, valid, 2)
    assert 4.0 < best < 4.8 < 7.0 < bigram < checks.THRESHOLD == 8.0 < 20 < unigram


@pytest.fixture(scope="module")
def trained():
    train, valid, vocab = checks.corpus()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                  # as in the grader's worker
    try:
        torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])   # imports torch._dynamo: not timed
        t0, c0 = time.perf_counter(), time.process_time()
        model = pretrain.pretrain_minigpt(torch.from_numpy(train), vocab, max_len=checks.EVAL_CONTEXT)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        torch.set_num_threads(threads)
    return model, elapsed, cpu


def test_reference_pretrains_well_below_the_mark_in_a_quarter_of_the_budget(trained):
    model, elapsed, cpu = trained
    _, valid, vocab = checks.corpus()
    ppl = pretrain.perplexity(model, torch.from_numpy(valid), checks.EVAL_CONTEXT)
    assert ppl <= REFERENCE_AT_MOST, f"reference perplexity {ppl:.2f}"
    assert elapsed < checks.BUDGET_S / 4, f"reference took {elapsed:.1f} s"
    assert cpu < REFERENCE_CPU_AT_MOST, f"reference took {cpu:.2f} s of CPU"
    assert model.pos_emb.weight.shape[0] == checks.EVAL_CONTEXT
    fresh, _ = checks.held_out(SimpleNamespace(mode="official", seed=7))
    fresh_ppl = pretrain.perplexity(model, torch.from_numpy(fresh), checks.EVAL_CONTEXT)
    assert fresh_ppl <= REFERENCE_AT_MOST, f"reference perplexity {fresh_ppl:.2f} on fresh held-out text"
    assert isinstance(model, models.MiniGPT) and not model.training
    win = checks._windows(valid, checks.EVAL_CONTEXT)          # the check's own computation agrees
    with torch.no_grad():
        logits = model(torch.from_numpy(win[:, :-1])).numpy()
    assert np.exp(checks._nll(logits, win[:, 1:]).mean()) == pytest.approx(ppl, rel=1e-5)


def test_untrained_model_is_far_above_the_mark():
    train, valid, vocab = checks.corpus()
    T = checks.EVAL_CONTEXT
    for seed in range(3):
        torch.manual_seed(seed)
        ppl = pretrain.perplexity(models.MiniGPT(vocab, T, 64, 4, 2), torch.from_numpy(valid), T)
        assert ppl > 10 * checks.THRESHOLD
        # one step is none (the warmup starts at lr 0): the reference's own initialisation
        model = pretrain.pretrain_minigpt(torch.from_numpy(train), vocab, max_len=T, steps=1, seed=seed)
        assert pretrain.perplexity(model, torch.from_numpy(valid), T) > 5 * checks.THRESHOLD


def test_official_mode_scores_on_fresh_held_out_text():
    mk = _builder()
    _, valid, _ = checks.corpus()
    local, _ = checks.held_out(SimpleNamespace(mode="local", seed=3))
    assert np.array_equal(local, valid)
    a, what = checks.held_out(SimpleNamespace(mode="official", seed=3))
    b, _ = checks.held_out(SimpleNamespace(mode="official", seed=3))
    c, _ = checks.held_out(SimpleNamespace(mode="official", seed=4))
    assert a.dtype == np.int64 and a.shape == valid.shape and "fresh" in what
    assert np.array_equal(a, b) and not np.array_equal(a, c) and not np.array_equal(a, valid)
    assert a[0] in (mk.THE, mk.A, mk.SOME)                  # it starts a sentence, like the shipped one
    train, _, _ = mk.load(NPZ)
    for text in (a, c):                                     # the same language: a bigram model agrees
        assert abs(mk.ngram_perplexity(train, text, 2) - mk.ngram_perplexity(train, valid, 2)) < 0.5


def test_same_seed_same_model_and_rng_untouched():
    train, _, vocab = checks.corpus()
    data = torch.from_numpy(train[:4000])
    state = torch.get_rng_state()
    a, b, c = (pretrain.pretrain_minigpt(data, vocab, 32, 16, 2, 1, steps=3, seed=s) for s in (1, 1, 2))
    assert torch.equal(state, torch.get_rng_state())
    ids = torch.arange(32)[None] % vocab
    with torch.no_grad():
        assert torch.equal(a(ids), b(ids)) and not torch.equal(a(ids), c(ids))


def test_a_passing_check_reports_its_note():
    from grader.checks import Check, Ctx
    from grader.reports import make_console, render_check
    from grader.runner import CheckResult, ExerciseResult, Runner

    check = Check("q", "a quality check", "quality", (), run=lambda ctx: "perplexity 5.1 (needs <= 7.0)")
    runner = Runner.__new__(Runner)
    ctx = Ctx("pretrain", "q", None, None, 0, 1.0, {})
    res = CheckResult("q", check.title, "failed", 0.0, 1.0)
    runner._run_check(SimpleNamespace(id="pretrain"), check, ctx, res, None, [])
    assert res.status == "passed" and res.message == "perplexity 5.1 (needs <= 7.0)"
    out = io.StringIO()
    ex = ExerciseResult("pretrain", {"en": "t"}, 1.0, 1.0, [res])
    render_check(make_console(out, width=100), ex, res, "zh", None)
    assert "perplexity 5.1" in out.getvalue()
