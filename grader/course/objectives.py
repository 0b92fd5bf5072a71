"""Checks for `objectives`: masked_lm_loss, next_token_loss, sft_loss and BERT's mask_tokens.

The losses are compared with the reference on logits [B, L, V] with B != L != V, uneven
padding (so a per-sequence mean differs from the per-token mean), labels of -100, and cases
where nothing counts (the loss must be exactly 0.0, not NaN). F64 / F32 tolerances.

mask_tokens is random, so it is never compared draw for draw:
- its structure (labels, unchanged positions, specials, ids not modified) is exact;
- its statistics use one call on 100 x 1000 = 100,000 positions (20% special) with a fixed
  generator seed: every proportion must be within 6 standard deviations of its expected
  value (selection rate p; among selected: [MASK] 0.8 + 0.1/V, original 0.1 + 0.1/V,
  another id 0.1·(V-2)/V, as a uniform random id may hit [MASK] or the original). With
  at most 10 such bounds, an honest submission fails with probability below 1e-7;
- reproducibility: the same generator seed gives the same result, different seeds differ.
"""

from __future__ import annotations

import math

import numpy as np

from grader.checks import Case, Checks, expect_array, fail, generator, noncontig
from grader.strategies import normal

checks = Checks("objectives")


def _logits(rng: np.random.Generator, B: int, L: int, V: int, dtype=np.float64) -> np.ndarray:
    return normal(rng, (B, L, V), dtype, scale=2.0)


def _ids(rng: np.random.Generator, B: int, L: int, V: int) -> np.ndarray:
    return rng.integers(0, V, size=(B, L)).astype(np.int64)


def _uneven_mask(rng: np.random.Generator, B: int, L: int) -> np.ndarray:
    """Right padding with different lengths (row 0 full, row 1 short)."""
    lengths = rng.integers(2, L + 1, size=B)
    lengths[0] = L
    if B > 1:
        lengths[1] = 2
    return np.arange(L)[None, :] < lengths[:, None]


def _sizes(rng: np.random.Generator) -> tuple[int, int, int]:
    B = int(rng.integers(2, 4))
    L = int(rng.choice([v for v in range(4, 8) if v != B]))
    V = int(rng.choice([v for v in range(5, 12) if v not in (B, L)]))
    return B, L, V


# --- mask_tokens -----------------------------------------------------------------------------------

MASK_ID = 19
VOCAB = 20


def _mask_batch(rng: np.random.Generator, B: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    ids = rng.integers(0, MASK_ID, size=(B, L)).astype(np.int64)      # never the [MASK] id itself
    special = rng.random((B, L)) < 0.2
    special[:, 0] = True                                               # e.g. [CLS]
    return ids, special


def _pair(ctx, out, shape) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(out, tuple) and len(out) == 2):
        fail("pair.mask_tokens_return")
    inputs = expect_array(out[0], shape, np.int64, "inputs")
    labels = expect_array(out[1], shape, np.int64, "labels")
    return inputs, labels


@checks.property("mask_tokens_structure",
                 "mask_tokens: labels hold the original id at selected positions and -100 elsewhere, "
                 "unselected inputs unchanged, specials never selected, ids not modified", points=2,
                 uses=("mask_tokens",),
                 zh="mask_tokens：被选中的位置标签为原词，其余为 -100；未选中的输入不变；特殊词从不被选中；不修改 ids")
def _(ctx):
    rng = ctx.rng
    for B, L, p in ((4, 50, 0.15), (3, 40, 0.5)):
        ids, special = _mask_batch(rng, B, L)
        ctx.last_input = (f"mask_tokens(ids [{B}, {L}], mask_token_id={MASK_ID}, vocab_size={VOCAB}, "
                          f"mlm_probability={p}, special_tokens_mask, generator(7))")
        inputs, labels = _pair(ctx, ctx.call_keep_inputs(
            "mask_tokens", ids, MASK_ID, VOCAB, mlm_probability=p, special_tokens_mask=special,
            generator=generator(7)), ids.shape)
        selected = labels != -100
        if not np.array_equal(labels[selected], ids[selected]):
            fail("mask_tokens_structure.labels_hold_original")
        if not np.array_equal(inputs[~selected], ids[~selected]):
            fail("mask_tokens_structure.position_whose_label")
        if (selected & special).any():
            fail("mask_tokens_structure.special_position_special")
        if inputs.min() < 0 or inputs.max() >= VOCAB:
            fail("mask_tokens_structure.inputs_contain_ids", VOCAB=VOCAB)
        if not selected.any():
            fail("mask_tokens_structure.nothing_selected_among", sum=int((~special).sum()), p=p)
    ids, special = _mask_batch(rng, 3, 30)
    ctx.last_input = "mask_tokens(..., mlm_probability=0.0)"
    inputs, labels = _pair(ctx, ctx.call("mask_tokens", ids, MASK_ID, VOCAB, mlm_probability=0.0,
                                         special_tokens_mask=special, generator=generator(1)), ids.shape)
    if (labels != -100).any() or not np.array_equal(inputs, ids):
        fail("mask_tokens_structure.mlm_probability_0")
    ctx.last_input = "mask_tokens(..., mlm_probability=1.0)"
    inputs, labels = _pair(ctx, ctx.call("mask_tokens", ids, MASK_ID, VOCAB, mlm_probability=1.0,
                                         special_tokens_mask=special, generator=generator(2)), ids.shape)
    if not np.array_equal(labels != -100, ~special):
        fail("mask_tokens_structure.mlm_probability_1")
    ctx.last_input = "mask_tokens(ids [3, 30], ..., special_tokens_mask=None)"
    inputs, labels = _pair(ctx, ctx.call("mask_tokens", ids, MASK_ID, VOCAB, mlm_probability=1.0,
                                         generator=generator(3)), ids.shape)
    if not (labels != -100).all():
        fail("mask_tokens_structure.without_special_tokens")


def _bound(p: float, n: int, sigmas: float = 6.0) -> float:
    return sigmas * math.sqrt(p * (1 - p) / max(n, 1))


@checks.statistical("mask_tokens_statistics",
                    "mask_tokens: 15% of non-special positions selected; of those 80% [MASK], 10% a "
                    "uniformly random id, 10% unchanged (100,000 positions, 6-sigma bounds)", points=4,
                    uses=("mask_tokens",),
                    zh="mask_tokens：非特殊位置有 15% 被选中；其中 80% 换成 [MASK]，10% 换成随机词，10% 不变")
def _(ctx):
    rng = np.random.default_rng(20240601)
    B, L = 100, 1000
    ids, special = _mask_batch(rng, B, L)
    V = VOCAB
    for p, seed in ((0.15, 11), (0.4, 12)):
        ctx.last_input = (f"mask_tokens(ids [{B}, {L}], mask_token_id={MASK_ID}, vocab_size={V}, "
                          f"mlm_probability={p}, special_tokens_mask (20% special), generator({seed}))")
        inputs, labels = _pair(ctx, ctx.call("mask_tokens", ids, MASK_ID, V, mlm_probability=p,
                                             special_tokens_mask=special, generator=generator(seed)),
                               ids.shape)
        selected = labels != -100
        n_cand, n_sel = int((~special).sum()), int(selected.sum())
        rate = n_sel / n_cand
        if abs(rate - p) > _bound(p, n_cand):
            fail("mask_tokens_statistics.rate_4f_non", rate=rate, p=p, p2=_bound(p, n_cand))
        sel_in, sel_orig = inputs[selected], ids[selected]
        got = {"[MASK]": np.mean(sel_in == MASK_ID), "unchanged": np.mean(sel_in == sel_orig),
               "another id": np.mean((sel_in != MASK_ID) & (sel_in != sel_orig))}
        want = {"[MASK]": 0.8 + 0.1 / V, "unchanged": 0.1 + 0.1 / V, "another id": 0.1 * (V - 2) / V}
        for key in want:
            if abs(got[key] - want[key]) > _bound(want[key], n_sel):
                fail("mask_tokens_statistics.selected_positions_4f", got_=got[key], key=key, want=want[key],
                     want2=_bound(want[key], n_sel),
                     expected=", ".join(f"{k} {v:.3f}" for k, v in want.items()),
                     got=", ".join(f"{k} {v:.3f}" for k, v in got.items()))
        # random replacements: uniform over [0, V) — every other id appears, none dominates
        other = sel_in[(sel_in != MASK_ID) & (sel_in != sel_orig)]
        counts = np.bincount(other, minlength=V)[:MASK_ID]
        expect = len(other) / (V - 1)   # ids other than the original, roughly uniform
        if counts.min() == 0 or counts.max() > 2 * expect:
            fail("mask_tokens_statistics.random_replacements_uniform", V=V, tolist=counts.tolist())


@checks.behaviour("mask_tokens_generator",
                  "mask_tokens draws from the generator it is given: the same seed gives the same "
                  "result, another seed a different one", points=1, uses=("mask_tokens",),
                  zh="mask_tokens 使用传入的 generator：相同种子结果相同，不同种子结果不同")
def _(ctx):
    ids, special = _mask_batch(ctx.rng, 4, 60)
    outs = []
    for seed in (5, 5, 6):
        ctx.last_input = f"mask_tokens(ids [4, 60], ..., generator=torch.Generator().manual_seed({seed}))"
        outs.append(_pair(ctx, ctx.call("mask_tokens", ids, MASK_ID, VOCAB, special_tokens_mask=special,
                                        generator=generator(seed)), ids.shape))
    if not (np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])):
        fail("mask_tokens_generator.two_calls_generators")
    if np.array_equal(outs[0][1], outs[2][1]) and np.array_equal(outs[0][0], outs[2][0]):
        fail("mask_tokens_generator.generators_different_seeds")


# --- masked_lm_loss -----------------------------------------------------------------------------


@checks.compare("masked_lm_loss_reference",
                "masked_lm_loss matches the reference (mean over labels != -100; 0.0 when none)", points=3,
                fn="masked_lm_loss", zh="masked_lm_loss 与参考一致（对标签不是 -100 的位置求平均；没有时为 0.0）")
def _(rng):
    B, L, V = _sizes(rng)
    labels = _ids(rng, B, L, V)
    labels[rng.random((B, L)) < 0.6] = -100
    labels[0, 0] = 1
    yield Case(args=(_logits(rng, B, L, V), labels))
    B, L, V = _sizes(rng)
    labels = np.where(rng.random((B, L)) < 0.3, _ids(rng, B, L, V), -100)
    labels[1, :] = -100
    labels[0, 1] = 2
    yield Case(args=(noncontig(_logits(rng, B, L, V)), labels))
    B, L, V = _sizes(rng)
    yield Case(args=(_logits(rng, B, L, V), np.full((B, L), -100, dtype=np.int64)),
               label=f"masked_lm_loss(logits [{B}, {L}, {V}], labels all -100)")
    B, L, V = _sizes(rng)
    yield Case(args=(_logits(rng, B, L, V, np.float32), _ids(rng, B, L, V)))


# --- next_token_loss ------------------------------------------------------------------------------


@checks.compare("next_token_loss_reference",
                "next_token_loss matches the reference (logits at t predict ids at t+1; padding "
                "targets not counted)", points=3, fn="next_token_loss",
                zh="next_token_loss 与参考一致（位置 t 的 logits 预测第 t+1 个词；padding 不作为目标）")
def _(rng):
    B, L, V = _sizes(rng)
    yield Case(args=(_logits(rng, B, L, V), _ids(rng, B, L, V)))
    B, L, V = _sizes(rng)
    yield Case(args=(_logits(rng, B, L, V), _ids(rng, B, L, V), _uneven_mask(rng, B, L)))
    B, L, V = _sizes(rng)
    yield Case(args=(_logits(rng, B, L, V), _ids(rng, B, L, V)),
               kwargs={"attention_mask": _uneven_mask(rng, B, L)})
    B, _, V = _sizes(rng)
    yield Case(args=(_logits(rng, B, 1, V), _ids(rng, B, 1, V)),
               label=f"next_token_loss(logits [{B}, 1, {V}], ids [{B}, 1]): nothing to predict")
    B, L, V = _sizes(rng)
    yield Case(args=(_logits(rng, B, L, V, np.float32), _ids(rng, B, L, V), _uneven_mask(rng, B, L)))


# --- sft_loss -------------------------------------------------------------------------------------


@checks.compare("sft_loss_reference",
                "sft_loss matches the reference (only response targets, positions >= the prompt "
                "length, that are real tokens; mean per token)", points=3, fn="sft_loss",
                zh="sft_loss 与参考一致（只计算回答部分的真实词，按词平均）")
def _(rng):
    # the smallest cases have padding, where "response targets" and "real targets" interact
    for B, L, V in ((2, 5, 6), (3, 6, 7)):
        prompts = rng.integers(1, L - 1, size=B).astype(np.int64)
        mask = _uneven_mask(rng, B, L)
        prompts = np.minimum(prompts, mask.sum(1) - 1)          # every row keeps a response token
        yield Case(args=(_logits(rng, B, L, V), _ids(rng, B, L, V), prompts),
                   kwargs={"attention_mask": mask})
    B, L, V = 3, 7, 11
    prompts = rng.integers(1, L - 1, size=B).astype(np.int64)
    prompts[0] = 1
    yield Case(args=(_logits(rng, B, L, V), _ids(rng, B, L, V), prompts))
    B, L, V = _sizes(rng)
    yield Case(args=(_logits(rng, B, L, V), _ids(rng, B, L, V), np.full(B, L, dtype=np.int64)),
               label=f"sft_loss(logits [{B}, {L}, {V}], ids, prompt_lengths all {L}): no response")
    B, L, V = 3, 7, 9
    yield Case(args=(_logits(rng, B, L, V, np.float32), _ids(rng, B, L, V),
                     np.array([0, 2, 4], dtype=np.int64)))


# --- all three losses -------------------------------------------------------------------------------


@checks.behaviour("losses_behaviour",
                  "the losses return exactly 0.0 (not NaN) when nothing counts, keep the dtype and "
                  "do not modify their inputs", points=1,
                  uses=("masked_lm_loss", "next_token_loss", "sft_loss"),
                  zh="没有被计数的目标时损失恰为 0.0（不是 NaN）；保持 dtype；不修改输入")
def _(ctx):
    rng = ctx.rng
    B, L, V = _sizes(rng)
    for dtype in (np.float64, np.float32):
        logits, ids, mask = _logits(rng, B, L, V, dtype), _ids(rng, B, L, V), _uneven_mask(rng, B, L)
        prompts = np.full(B, 1, dtype=np.int64)
        name = np.dtype(dtype).name
        calls = (("masked_lm_loss", (logits, np.where(mask, ids, -100))),
                 ("next_token_loss", (logits, ids, mask)),
                 ("sft_loss", (logits, ids, prompts, mask)))
        for fn, args in calls:
            ctx.last_input = f"{fn} on {name} logits [{B}, {L}, {V}]"
            out = expect_array(ctx.call_keep_inputs(fn, *args), (), dtype, f"{fn}(...)")
            if not np.isfinite(out) or out <= 0:
                fail("losses_behaviour.fn_out_expected", fn=fn, out=float(out))
    logits = _logits(rng, B, L, V)
    nothing = (("masked_lm_loss", (logits, np.full((B, L), -100, dtype=np.int64)), "all labels -100"),
               ("next_token_loss", (logits, _ids(rng, B, L, V), np.broadcast_to(np.arange(L) == 0, (B, L)).copy()),
                "only position 0 is real"),
               ("sft_loss", (logits, _ids(rng, B, L, V), np.full(B, L, dtype=np.int64)),
                "every token is prompt"))
    for fn, args, why in nothing:
        ctx.last_input = f"{fn} with nothing to count ({why})"
        out = expect_array(ctx.call(fn, *args), (), np.float64, f"{fn}(...)")
        if math.isnan(float(out)):
            fail("losses_behaviour.fn_returned_nan", fn=fn, why=why)
        if float(out) != 0.0:
            fail("losses_behaviour.fn_returned_out", fn=fn, out=float(out), why=why)
