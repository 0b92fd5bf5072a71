"""Checks for `heads`: LMHead (and weight tying), ClassificationHead (cls / mean pooling over real
tokens), sample_next_token (greedy, temperature, top-k).

Sampling is judged statistically, never by the exact draws: N draws from one row of logits
(fixed generator seeds), every token's frequency must lie within a Bernstein bound of its
probability at failure rate 1e-9 per token, so an honest sampler fails one of these checks
with probability below 1e-7; tokens outside the top k must never be drawn. Logits have no
ties at the k-th largest value. Tolerances elsewhere: F64 / F32 (grader/checks.py).
"""

from __future__ import annotations

import math

import numpy as np

from grader.checks import F32, Case, Checks, expect_array, fail, generator
from grader.strategies import normal

checks = Checks("heads")

N_DRAWS = 20_000
DELTA = 1e-9  # allowed failure probability per token frequency


def _real_mask(rng: np.random.Generator, B: int, L: int) -> np.ndarray:
    """Right padding, Bool[B, L]; every row has at least one real token."""
    lengths = rng.integers(1, L + 1, size=B)
    lengths[0] = max(1, L - 2)  # some padding in row 0 whenever L > 2
    return np.arange(L)[None, :] < lengths[:, None]


def _bound(p: np.ndarray, n: int) -> np.ndarray:
    """Bernstein: P(|freq - p| >= t) <= 2 exp(-n t² / (2 p(1-p) + 2t/3)) = DELTA."""
    log_term = math.log(2 / DELTA)
    var = p * (1 - p)
    return (2 * log_term / 3 + np.sqrt((2 * log_term / 3) ** 2 + 8 * n * log_term * var)) / (2 * n)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _draw(ctx, row: np.ndarray, seed: int, **kwargs) -> np.ndarray:
    logits = np.broadcast_to(row, (N_DRAWS, row.size)).copy()
    ctx.last_input = (f"logits = {N_DRAWS} copies of {np.array2string(row, precision=2, separator=', ')}, "
                      + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + f", generator seed {seed}")
    draws = expect_array(ctx.call("sample_next_token", logits, generator=generator(seed), **kwargs),
                         (N_DRAWS,), np.int64, "sample_next_token")
    if draws.min() < 0 or draws.max() >= row.size:
        fail("draw.sampled_token_ids", size=row.size, got=f"min {draws.min()}, max {draws.max()}")
    return np.bincount(draws, minlength=row.size) / N_DRAWS


def _frequencies_match(freq: np.ndarray, p: np.ndarray, what: str) -> None:
    bad = np.abs(freq - p) > _bound(p, N_DRAWS)
    if bad.any():
        j = int(np.argmax(p))  # how far off, in one number: two wrong samplers rarely agree on it
        fail("frequencies_match.what_token_frequencies", what=what, freq=freq[j], p=p[j],
             expected=np.array2string(p, precision=3, separator=", "),
             got=np.array2string(freq, precision=3, separator=", "))


# --- LMHead ----------------------------------------------------------------------------------------


@checks.compare_module("lm_head_reference", "LMHead = Linear(D, V, bias=False) matches the reference "
                       "(forward and backward)", points=2, cls="LMHead",
                       zh="LMHead = Linear(D, V, bias=False) 的输出与梯度与参考一致")
def _(rng):
    yield Case(init={"d_model": 4, "vocab_size": 7}, args=(normal(rng, (2, 3, 4)),), wrt=(0,))
    yield Case(init={"d_model": 6, "vocab_size": 5}, args=(normal(rng, (4, 6)),), wrt=(0,))
    D, V = int(rng.integers(2, 7)), int(rng.integers(7, 12))
    yield Case(init={"d_model": D, "vocab_size": V}, args=(normal(rng, (3, 2, D)),), wrt=(0,))
    yield Case(init={"d_model": 5, "vocab_size": 9}, args=(normal(rng, (2, 4, 5), np.float32),), wrt=(0,),
               dtype="float32")


@checks.behaviour("lm_head_tying",
                  "LMHead(tied_weight=W): proj.weight IS W (the same Parameter), no bias, logits = h Wᵀ", points=2,
                  uses=("LMHead",),
                  zh="LMHead(tied_weight=W)：proj.weight 就是 W 本身（同一个 Parameter），无偏置，logits = h Wᵀ")
def _(ctx):
    D, V = 4, 9
    ctx.last_input = f"LMHead(d_model={D}, vocab_size={V})"
    plain_head = ctx.new("LMHead", D, V)
    params = {name: shape for name, shape, _, _ in plain_head.params()}
    if params != {"proj.weight": (V, D)}:
        fail("lm_head_tying.parameters_differ_contract",
             expected=f"proj.weight {[V, D]}", got=", ".join(f"{k} {list(v)}" for k, v in params.items()))

    ctx.last_input = f"emb = nn.Embedding({V}, {D}); LMHead(d_model={D}, vocab_size={V}, tied_weight=emb.weight)"
    emb = ctx.new_from("torch", "nn.Embedding", V, D)
    weight = emb.sub("weight")
    head = ctx.new("LMHead", D, V, weight)
    if not head.same("proj.weight", weight):
        fail("lm_head_tying.proj_weight_tied")
    params = {name: shape for name, shape, _, _ in head.params()}
    if params != {"proj.weight": (V, D)}:
        fail("lm_head_tying.tied_lmhead_hold",
             got=", ".join(f"{k} {list(v)}" for k, v in params.items()))
    W = expect_array(emb.state_dict().get("weight"), (V, D), np.float32, "emb.weight")
    h = normal(np.random.default_rng(ctx.seed % 2**32), (2, 3, D), np.float32)
    out = expect_array(head(h), (2, 3, V), np.float32, "LMHead(h)")
    ctx.close(out, h @ W.T, "LMHead(h) with the tied weight", tol=F32)


# --- ClassificationHead ----------------------------------------------------------------------------


@checks.compare_module("classification_head_reference",
                       "ClassificationHead (cls and mean pooling) matches the reference (forward and backward)",
                       points=3, cls="ClassificationHead", zh="分类头（cls 与 mean 池化）的输出与梯度与参考一致")
def _(rng):
    for pooling, with_mask in (("cls", True), ("mean", True), ("mean", False)):
        D, K = int(rng.integers(3, 7)), int(rng.integers(2, 5))
        B, L = int(rng.integers(2, 4)), int(rng.integers(4, 7))
        kwargs = {"attention_mask": _real_mask(rng, B, L)} if with_mask else {}
        yield Case(init={"d_model": D, "num_labels": K, "pooling": pooling},
                   args=(normal(rng, (B, L, D)),), kwargs=kwargs, wrt=(0,))
    yield Case(init={"d_model": 5, "num_labels": 3, "pooling": "mean"}, args=(normal(rng, (3, 6, 5), np.float32),),
               kwargs={"attention_mask": _real_mask(rng, 3, 6)}, wrt=(0,), dtype="float32")


@checks.property("classification_head_padding",
                 "ClassificationHead: padding never changes mean pooling; ValueError for an unknown pooling", points=1,
                 uses=("ClassificationHead",),
                 zh="分类头：padding 不影响 mean 池化的结果；未知的 pooling 抛出 ValueError")
def _(ctx):
    rng = np.random.default_rng(ctx.seed % 2**32)
    ctx.last_input = "ClassificationHead(d_model=4, num_labels=3, pooling='mean')"
    head = ctx.new("ClassificationHead", 4, 3, "mean")
    head.call_raw("to", {"$dtype": "float64"})
    h = normal(rng, (3, 5, 4))
    mask = _real_mask(rng, 3, 5)
    h2 = h.copy()
    h2[~mask] = 100.0 * normal(rng, (int((~mask).sum()), 4))
    ctx.last_input = "h [3, 5, 4] with attention_mask lengths " + str(mask.sum(1).tolist())
    a = expect_array(head(h, attention_mask=mask), (3, 3), np.float64)
    b = expect_array(head(h2, attention_mask=mask), (3, 3), np.float64)
    if not np.allclose(a, b, rtol=1e-9, atol=1e-9):
        fail("classification_head_padding.changing_padded_positions",
             got=f"max change {float(np.abs(a - b).max()):.3g}")
    ctx.last_input = "ClassificationHead(d_model=4, num_labels=3, pooling='max')"
    ctx.raises("ValueError", "ClassificationHead", 4, 3, "max")


# --- sampling ------------------------------------------------------------------------------------------


@checks.behaviour("sample_greedy_and_invalid",
                  "sample_next_token: temperature 0 is argmax (Long[B]); ValueError for a negative "
                  "temperature or top_k < 1", points=2,
                  uses=("sample_next_token",),
                  zh="sample_next_token：温度为 0 时取 argmax（Long[B]）；温度为负或 top_k < 1 时抛出 ValueError")
def _(ctx):
    rng = np.random.default_rng(ctx.seed % 2**32)
    logits = normal(rng, (5, 8), scale=2)
    for kwargs in ({"temperature": 0.0}, {"temperature": 0.0, "top_k": 3}):
        ctx.last_input = f"logits [5, 8], {kwargs}"
        got = expect_array(ctx.call_keep_inputs("sample_next_token", logits, **kwargs), (5,), np.int64,
                           "sample_next_token")
        if not np.array_equal(got, logits.argmax(-1)):
            fail("sample_greedy_and_invalid.temperature_0_pick",
                 expected=str(logits.argmax(-1).tolist()), got=str(got.tolist()))
    for kwargs in ({"temperature": -0.5}, {"top_k": 0}, {"temperature": 1.0, "top_k": -2}):
        ctx.last_input = f"logits [5, 8], {kwargs}"
        ctx.raises("ValueError", "sample_next_token", logits, **kwargs)


@checks.statistical("sample_temperature_statistics",
                    f"sample_next_token follows softmax(logits / temperature) ({N_DRAWS} draws per "
                    "temperature, fixed seeds, honest failure rate < 1e-7)", points=3,
                    uses=("sample_next_token",),
                    zh="sample_next_token 服从 softmax(logits / temperature) 分布（统计检验）")
def _(ctx):
    row = np.array([2.0, 1.0, 0.5, 0.0, -1.0, 1.5])
    for i, temperature in enumerate((1.0, 0.5, 2.0)):
        freq = _draw(ctx, row, 101 + i, temperature=temperature)
        _frequencies_match(freq, _softmax(row / temperature), f"temperature {temperature}")


@checks.statistical("sample_top_k_statistics",
                    f"sample_next_token with top_k draws only the k largest logits, renormalised "
                    f"({N_DRAWS} draws per setting, fixed seeds, honest failure rate < 1e-7)", points=3,
                    uses=("sample_next_token",),
                    zh="top_k 采样只抽取最大的 k 个 logits，并重新归一化（统计检验）")
def _(ctx):
    row = np.array([0.1, 3.0, -2.0, 2.5, 1.0, 0.0, 0.6])
    for i, (k, temperature) in enumerate(((3, 1.3), (1, 1.0), (5, 0.7), (20, 1.0))):
        freq = _draw(ctx, row, 201 + i, temperature=temperature, top_k=k)
        keep = np.argsort(-row)[: min(k, row.size)]
        outside = np.setdiff1d(np.arange(row.size), keep)
        if freq[outside].sum() > 0:
            j = int(outside[np.argmax(freq[outside])])
            fail("sample_top_k_statistics.top_k_k", k=k, j=j, row=row[j],
                 expected=f"only tokens {sorted(keep.tolist())}", got=f"token {j} in {freq[j]:.2%} of the draws")
        p = np.zeros_like(row)
        p[keep] = _softmax(row[keep] / temperature)
        _frequencies_match(freq, p, f"top_k={k}, temperature {temperature}")
