"""Checks for `attention`: softmax, cosine attention, scaled dot-product attention, SelfAttention.

Shapes are chosen so that axis mistakes show: batch != length != width, Lq != Lk, dk != dv.
Tolerances: float64 inputs compare with F64 (rtol 1e-6, atol 1e-8·scale), float32 with F32
(rtol 1e-4, atol 1e-5·scale) — see grader/checks.py.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, Checks, StudentError, expect_array, fail, noncontig
from grader.messages import msg
from grader.strategies import arrays, distinct_dims, normal, random_mask

checks = Checks("attention")


# --- softmax ------------------------------------------------------------------------------


@checks.compare("softmax_reference", "softmax matches the reference", points=2, fn="softmax",
                zh="softmax 与参考实现一致")
def _(rng):
    yield Case(args=(normal(rng, (2, 3, 5)),), kwargs={"dim": -1})
    yield Case(args=(normal(rng, (4, 3), scale=5),), kwargs={"dim": 0})
    yield Case(args=(normal(rng, (2, 5, 3), np.float32),), kwargs={"dim": 1})
    yield Case(args=(noncontig(normal(rng, (3, 4))),), kwargs={"dim": -1})
    yield Case(args=(normal(rng, (2, 6), scale=3000),), kwargs={"dim": -1})
    yield Case(args=(normal(rng, (7,)),))


@checks.property("softmax_properties",
                 "softmax: rows sum to 1, shift invariant, finite at 1e4, exp(-inf) is 0", points=2,
                 uses=("softmax",), zh="softmax：每行和为 1、平移不变、1e4 时有限、-inf 处为 0")
def _(ctx):
    @ctx.given(st.tuples(st.integers(1, 4), st.integers(1, 6)).flatmap(
        lambda s: arrays(s, lo=-1e4, hi=1e4)), st.floats(-1e3, 1e3))
    def prop(x, shift):
        y = expect_array(ctx.call("softmax", x, dim=-1), x.shape, x.dtype)
        if not np.all(np.isfinite(y)):
            fail("softmax_properties.softmax_inf_nan")
        if np.any(y < 0) or not np.allclose(y.sum(-1), 1.0, atol=1e-9):
            fail("softmax_properties.rows_softmax_sum", got=np.array2string(y.sum(-1), precision=6))
        y2 = expect_array(ctx.call("softmax", x + shift, dim=-1), x.shape)
        ctx.close(y2, y, "softmax(x + c)")

    prop()

    x = np.array([[0.5, -np.inf, 1.0, -np.inf]])
    ctx.last_input = "x = [[0.5, -inf, 1.0, -inf]]"
    y = expect_array(ctx.call("softmax", x, dim=-1), x.shape)
    if not (y[0, 1] == 0.0 and y[0, 3] == 0.0 and np.isclose(y.sum(), 1.0)):
        fail("softmax_properties.entry_inf_get", got=np.array2string(y))

    for shape, dim in (((3, 0), -1), ((0, 4), 0), ((2, 0, 3), 1)):
        x = np.zeros(shape)
        ctx.last_input = f"x = float64{list(shape)}, dim = {dim} (an empty axis)"
        try:
            expect_array(ctx.call("softmax", x, dim=dim), shape, x.dtype,
                         "softmax(x)")
        except StudentError as err:
            if err.not_implemented:
                raise
            fail("softmax_properties.softmax_crashed_empty", type=err.type, message_=err.message[:80],
                 frames=err.frames)


# --- cosine attention ------------------------------------------------------------------------


@checks.compare("cosine_attention_reference", "cosine_attention matches the reference", points=2,
                fn="cosine_attention", zh="余弦注意力与参考实现一致")
def _(rng):
    yield Case(args=(normal(rng, (5, 3)),))
    yield Case(args=(normal(rng, (2, 4, 3)),))
    yield Case(args=(normal(rng, (2, 3, 6), np.float32),))
    e = normal(rng, (4, 3))
    e[1] = 0.0  # an all-zero word vector: cosine is 0, not nan
    yield Case(args=(e,))
    yield Case(args=(normal(rng, (3, 2, 5, 4), scale=10),))


@checks.property("cosine_attention_properties",
                 "cosine_attention: scale-invariant weights, identical words get the mean", points=1,
                 uses=("cosine_attention",), zh="余弦注意力：权重与向量长度无关；全相同的词输出不变")
def _(ctx):
    @ctx.given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 2**31 - 1))
    def prop(L, D, seed):
        rng = np.random.default_rng(seed)
        e = normal(rng, (L, D)) + 0.1
        # the 🍎🍎🍎 sentence: every word the same vector -> every output is that vector
        same = np.repeat(e[:1], L, axis=0)
        out = expect_array(ctx.call("cosine_attention", same), same.shape, same.dtype)
        ctx.close(out, same, "cosine_attention(🍎 🍎 🍎)")
        # cosines ignore length: scaling every vector by 3 scales the output by 3
        a = expect_array(ctx.call("cosine_attention", e), e.shape)
        b = expect_array(ctx.call("cosine_attention", 3.0 * e), e.shape)
        ctx.close(b, 3.0 * a, "cosine_attention(3·E)")

    prop()


# --- scaled dot-product attention -------------------------------------------------------------


@checks.compare("sdpa_reference", "scaled_dot_product_attention matches the reference", points=3,
                fn="scaled_dot_product_attention", zh="缩放点积注意力与参考实现一致", staged=True)
def _(rng):
    # Staged, as a tutor would: one query and one key, then several keys, then several
    # queries, then a mask, then batch dimensions; the report names the first stage that fails.
    yield Case(args=(normal(rng, (1, 3)), normal(rng, (1, 3)), normal(rng, (1, 2))),
               label=msg("sdpa_reference.stage.one_query_one_key"))
    yield Case(args=(normal(rng, (1, 3)), normal(rng, (4, 3)), normal(rng, (4, 2))),
               label=msg("sdpa_reference.stage.one_query_several_keys"))
    yield Case(args=(normal(rng, (2, 3)), normal(rng, (4, 3)), normal(rng, (4, 5))),
               label=msg("sdpa_reference.stage.several_queries"))
    yield Case(args=(normal(rng, (3, 4)), normal(rng, (5, 4)), normal(rng, (5, 2))),
               kwargs={"mask": random_mask(rng, (3, 5))}, label=msg("sdpa_reference.stage.with_mask"))
    yield Case(args=(normal(rng, (2, 3, 4)), normal(rng, (2, 5, 4)), normal(rng, (2, 5, 6))),
               kwargs={"mask": random_mask(rng, (2, 1, 5))}, label=msg("sdpa_reference.stage.batch_key_mask"))
    yield Case(args=(noncontig(normal(rng, (2, 2, 3, 4), np.float32)), normal(rng, (2, 2, 3, 4), np.float32),
                     noncontig(normal(rng, (2, 2, 3, 5), np.float32))),
               kwargs={"mask": np.tril(np.ones((3, 3), dtype=bool))},
               label=msg("sdpa_reference.stage.two_batch_dims"))


@checks.property("sdpa_masking",
                 "masked keys get probability exactly 0 and never change the output", points=3,
                 uses=("scaled_dot_product_attention",),
                 zh="被遮住的键概率恰为 0，改变它们不影响输出")
def _(ctx):
    @ctx.given(distinct_dims(4, 1, 6), st.integers(0, 2**31 - 1))
    def prop(sizes, seed):
        Lq, Lk, dk, dv = sizes
        rng = np.random.default_rng(seed)
        q, k, v = normal(rng, (2, Lq, dk)), normal(rng, (2, Lk, dk)), normal(rng, (2, Lk, dv))
        mask = random_mask(rng, (2, Lq, Lk), p=0.5)
        res = ctx.call("scaled_dot_product_attention", q, k, v, mask=mask)
        if not (isinstance(res, tuple) and len(res) == 2):
            fail("sdpa_masking.expected_tuple_out")
        out = expect_array(res[0], (2, Lq, dv), q.dtype, "out")
        probs = expect_array(res[1], (2, Lq, Lk), q.dtype, "probs")
        if np.any(probs[~mask] != 0.0):
            fail("sdpa_masking.masked_key_non",
                 got=f"max masked probability {float(np.abs(probs[~mask]).max()):.3g}")
        if not np.allclose(probs.sum(-1), 1.0, atol=1e-9):
            fail("sdpa_masking.probabilities_query_sum")
        # change keys and values wherever the whole column is masked for this batch
        hidden = ~mask.any(axis=1)  # (2, Lk): keys no query may see
        if hidden.any():
            k2, v2 = k.copy(), v.copy()
            k2[hidden] += 100.0 * normal(rng, (int(hidden.sum()), dk))
            v2[hidden] += 100.0 * normal(rng, (int(hidden.sum()), dv))
            res2 = ctx.call("scaled_dot_product_attention", q, k2, v2, mask=mask)
            ctx.close(expect_array(res2[0], out.shape, what="out"), out,
                      "out after changing masked-out keys and values")

    prop()


@checks.behaviour("sdpa_behaviour", "attention keeps the dtype and does not modify its inputs", points=1,
                  uses=("scaled_dot_product_attention",), zh="保持 dtype，不修改输入")
def _(ctx):
    rng = np.random.default_rng(ctx.seed % 2**32)
    for dtype in (np.float32, np.float64):
        q, k, v = normal(rng, (2, 3, 4), dtype), normal(rng, (2, 5, 4), dtype), normal(rng, (2, 5, 6), dtype)
        mask = random_mask(rng, (2, 3, 5))
        d = np.dtype(dtype)
        ctx.last_input = f"q {d}[2, 3, 4], k {d}[2, 5, 4], v {d}[2, 5, 6], mask bool[2, 3, 5]"
        res = ctx.call_keep_inputs("scaled_dot_product_attention", q, k, v, mask=mask)
        if not (isinstance(res, tuple) and len(res) == 2):
            fail("sdpa_masking.expected_tuple_out")
        expect_array(res[0], (2, 3, 6), dtype, "out")
        expect_array(res[1], (2, 3, 5), dtype, "probs")


# --- SelfAttention -----------------------------------------------------------------------------


@checks.compare_module("self_attention_reference",
                       "SelfAttention matches the reference with the same weights (forward and backward)", points=3,
                       cls="SelfAttention", uses=("scaled_dot_product_attention",),
                       zh="相同权重下 SelfAttention 的输出与梯度与参考一致")
def _(rng):
    yield Case(init={"d_model": 4}, args=(normal(rng, (2, 3, 4)),), wrt=(0,))
    yield Case(init={"d_model": 6, "d_k": 3}, args=(normal(rng, (3, 5, 6)),), wrt=(0,))
    yield Case(init={"d_model": 5, "d_k": 7}, args=(normal(rng, (2, 4, 5)),),
               kwargs={"mask": random_mask(rng, (2, 1, 4))}, wrt=(0,))
    yield Case(init={"d_model": 4}, args=(normal(rng, (2, 5, 4)),),
               kwargs={"mask": np.tril(np.ones((5, 5), dtype=bool))}, wrt=(0,))


@checks.behaviour("self_attention_structure",
                  "SelfAttention has q_proj, k_proj, v_proj, o_proj of the right shapes", points=1,
                  uses=("SelfAttention",), zh="SelfAttention 的子模块名称与形状符合约定")
def _(ctx):
    for d_model, d_k in ((6, 4), (5, None)):
        ctx.last_input = f"SelfAttention(d_model={d_model}, d_k={d_k})"
        h = ctx.new("SelfAttention", d_model, d_k)
        params = {name: shape for name, shape, _, _ in h.params()}
        dk = d_model if d_k is None else d_k
        want = {"q_proj.weight": (dk, d_model), "q_proj.bias": (dk,),
                "k_proj.weight": (dk, d_model), "k_proj.bias": (dk,),
                "v_proj.weight": (dk, d_model), "v_proj.bias": (dk,),
                "o_proj.weight": (d_model, dk), "o_proj.bias": (d_model,)}
        if params != want:
            missing = [k for k in want if k not in params]
            extra = [k for k in params if k not in want]
            wrong = [k for k in want if k in params and params[k] != want[k]]
            if missing:
                detail = msg("self_attention_structure.detail_missing_missing", missing=", ".join(missing))
            elif extra:
                detail = msg("self_attention_structure.detail_unexpected_extra", extra=", ".join(extra))
            else:
                detail = msg("self_attention_structure.detail_wrong_shape_params", wrong=wrong[0],
                             params=list(params[wrong[0]]), want=list(want[wrong[0]]))
            fail("self_attention_structure.parameters_differ_contract", detail=detail,
                 expected=", ".join(f"{k} {list(v)}" for k, v in want.items()),
                 got=", ".join(f"{k} {list(v)}" for k, v in params.items()) or "no parameters")
