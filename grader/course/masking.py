"""Checks for `masking`: causal, padding, key-padding, combined masks (True = may attend).

Masks are compared exactly (bool); the properties state the pattern itself, so they need no
reference and run the same in local and official mode.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, Checks, expect_array, fail

checks = Checks("masking")


def lengths_for(rng: np.random.Generator, B: int, L: int) -> np.ndarray:
    return rng.integers(0, L + 1, size=B).astype(np.int64)


@checks.property("causal_mask_pattern", "causal_mask(L): Bool[L, L], True exactly where key j <= query i", points=2,
                 uses=("causal_mask",), zh="causal_mask(L)：形状 [L, L]，仅当 j <= i 时为 True")
def _(ctx):
    @ctx.given(st.integers(0, 9))
    def prop(L):
        m = expect_array(ctx.call("causal_mask", L), (L, L), np.bool_, "causal_mask")
        want = np.tril(np.ones((L, L), dtype=bool))
        if not np.array_equal(m, want):
            i, j = np.argwhere(m != want)[0]
            fail("causal_mask_pattern.must_see" if want[i, j] else "causal_mask_pattern.must_not_see",
                 i=int(i), j=int(j), value=bool(m[i, j]),
                 expected=np.array2string(want.astype(int)), got=np.array2string(m.astype(int)))

    prop()


@checks.property("padding_mask_lengths", "padding_mask: True at the first lengths[b] positions, "
                 "ValueError outside [0, max_len]", points=2, uses=("padding_mask",),
                 zh="padding_mask：前 lengths[b] 个位置为 True；长度越界时抛出 ValueError")
def _(ctx):
    @ctx.given(st.integers(1, 4), st.integers(0, 7), st.integers(0, 2**31 - 1))
    def prop(B, L, seed):
        lengths = lengths_for(np.random.default_rng(seed), B, L)
        m = expect_array(ctx.call("padding_mask", lengths, L), (B, L), np.bool_, "padding_mask")
        want = np.arange(L)[None, :] < lengths[:, None]
        if not np.array_equal(m, want):
            b = int(np.argwhere(m != want)[0][0])
            fail("padding_mask_lengths.row_b_length", b=b, lengths=lengths[b],
                 expected=np.array2string(want[b].astype(int)), got=np.array2string(m[b].astype(int)))

    prop()
    ctx.last_input = "lengths = [2, 6], max_len = 5"
    ctx.raises("ValueError", "padding_mask", np.array([2, 6]), 5)
    ctx.last_input = "lengths = [-1, 2], max_len = 5"
    ctx.raises("ValueError", "padding_mask", np.array([-1, 2]), 5)


@checks.compare("key_padding_reference", "key_padding_to_attention_mask gives Bool[B, 1, 1, Lk]", points=2,
                fn="key_padding_to_attention_mask", zh="key_padding_to_attention_mask 形状为 [B, 1, 1, Lk]")
def _(rng):
    for B, Lk in ((2, 5), (3, 1), (1, 4), (4, 3)):
        yield Case(args=(rng.random((B, Lk)) < 0.6,))


@checks.property("combine_masks_broadcast", "combine_masks: broadcast AND, None ignored, all None gives None", points=2,
                 uses=("combine_masks",), zh="combine_masks：广播逻辑与，忽略 None，全为 None 时返回 None")
def _(ctx):
    ctx.last_input = "combine_masks(None, None)"
    if ctx.call("combine_masks", None, None) is not None:
        fail("combine_masks_broadcast.combine_masks_none")
    ctx.last_input = "combine_masks()"
    if ctx.call("combine_masks") is not None:
        fail("combine_masks_broadcast.combine_masks_return")

    @ctx.given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**31 - 1),
               st.booleans())
    def prop(B, Lq, Lk, seed, with_none):
        rng = np.random.default_rng(seed)
        a = rng.random((Lq, Lk)) < 0.6          # e.g. causal-like [Lq, Lk]
        b = rng.random((B, 1, 1, Lk)) < 0.7     # e.g. key padding [B, 1, 1, Lk]
        masks = (a, None, b) if with_none else (a, b)
        got = expect_array(ctx.call_keep_inputs("combine_masks", *masks), (B, 1, Lq, Lk), np.bool_,
                           "combine_masks")
        want = a & b
        if not np.array_equal(got, want):
            fail("combine_masks_broadcast.combine_masks_broadcast",
                 expected=np.array2string(want[0, 0].astype(int)),
                 got=np.array2string(got[0, 0].astype(int)))
        full = rng.random((B, 1, Lq, Lk)) < 0.5
        got = expect_array(ctx.call_keep_inputs("combine_masks", full, a), full.shape, np.bool_,
                           "combine_masks(full, a)")
        if not np.array_equal(got, full & a):
            fail("combine_masks_broadcast.combine_masks_broadcast")
        one = expect_array(ctx.call("combine_masks", None, a), a.shape, np.bool_, "combine_masks(None, a)")
        if not np.array_equal(one, a):
            fail("combine_masks_broadcast.combine_masks_none_2")

    prop()


@checks.compare("causal_padding_reference", "causal_padding_mask matches the reference", points=2,
                fn="causal_padding_mask", zh="causal_padding_mask 与参考实现一致")
def _(rng):
    for B, L in ((2, 4), (3, 5), (1, 1), (4, 3)):
        yield Case(args=(lengths_for(rng, B, L), L))


@checks.property("causal_padding_properties",
                 "causal_padding_mask: causal AND key padding, Bool[B, 1, L, L], ValueError on bad lengths", points=2,
                 uses=("causal_padding_mask",),
                 zh="causal_padding_mask：因果与键填充同时成立；长度越界时抛出 ValueError")
def _(ctx):
    @ctx.given(st.integers(1, 4), st.integers(1, 7), st.integers(0, 2**31 - 1))
    def prop(B, L, seed):
        lengths = lengths_for(np.random.default_rng(seed), B, L)
        m = expect_array(ctx.call_keep_inputs("causal_padding_mask", lengths, L), (B, 1, L, L), np.bool_,
                         "causal_padding_mask")
        j = np.arange(L)
        want = (j[None, :] <= j[:, None])[None, None] & (j[None, None, None, :] < lengths[:, None, None, None])
        if not np.array_equal(m, want):
            b = int(np.argwhere(m != want)[0][0])
            fail("causal_padding_properties.batch_b_length", b=b, lengths=lengths[b],
                 expected=np.array2string(want[b, 0].astype(int)), got=np.array2string(m[b, 0].astype(int)))

    prop()
    ctx.last_input = "lengths = [3, 5], L = 4"
    ctx.raises("ValueError", "causal_padding_mask", np.array([3, 5]), 4)
