"""Checks for `ffn`: the neural key-value memory, the FeedForward module, its parameter count.

Sizes keep D != N != Dv and d_ff != 4·D where it is given, so an axis or width mix-up shows.
Tolerances: F64 / F32 (grader/checks.py). The parameter count is checked against the
formula 2·D·d_ff (+ d_ff + D with bias), no reference needed.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, Checks, fail, noncontig
from grader.strategies import normal

checks = Checks("ffn")


@checks.compare("neural_memory_reference", "neural_memory: softmax(x Kᵀ) V over the N memory slots", points=3,
                fn="neural_memory", zh="neural_memory：在 N 个记忆槽上做 softmax(x Kᵀ) V")
def _(rng):
    yield Case(args=(normal(rng, (3, 4)), normal(rng, (5, 4)), normal(rng, (5, 2))))
    yield Case(args=(normal(rng, (2, 3, 6)), normal(rng, (4, 6)), normal(rng, (4, 5))))
    yield Case(args=(normal(rng, (4,)), normal(rng, (6, 4)), normal(rng, (6, 3))))
    yield Case(args=(normal(rng, (2, 5), np.float32), normal(rng, (3, 5), np.float32),
                     normal(rng, (3, 4), np.float32)))
    yield Case(args=(normal(rng, (3, 4), scale=10), noncontig(normal(rng, (5, 4), scale=10)), normal(rng, (5, 2))))
    D, N, Dv = (int(v) for v in rng.choice(np.arange(2, 8), size=3, replace=False))
    yield Case(args=(normal(rng, (int(rng.integers(2, 4)), D)), normal(rng, (N, D)), normal(rng, (N, Dv))))


@checks.compare_module("feedforward_reference",
                       "FeedForward = down(act(up(x))) matches the reference with the same weights "
                       "(relu and exact gelu; forward and backward)", points=4,
                       cls="FeedForward", zh="相同权重下 FeedForward（relu 与精确 gelu）的输出与梯度与参考一致")
def _(rng):
    for activation in ("relu", "gelu"):
        D, F = int(rng.integers(3, 7)), int(rng.integers(5, 11))
        B, L = 2, int(rng.integers(3, 6))
        yield Case(init={"d_model": D, "d_ff": F, "activation": activation},
                   args=(normal(rng, (B, L, D), scale=2),), wrt=(0,))
    D = int(rng.integers(3, 6))
    yield Case(init={"d_model": D, "activation": "gelu"}, args=(normal(rng, (4, D), scale=2),), wrt=(0,))
    yield Case(init={"d_model": 5, "d_ff": 7, "activation": "gelu"},
               args=(normal(rng, (2, 3, 5), np.float32, scale=2),), wrt=(0,), dtype="float32")


@checks.behaviour("feedforward_structure",
                  "FeedForward: up = Linear(D, d_ff), down = Linear(d_ff, D), d_ff defaults to 4·D; "
                  "ValueError for an unknown activation", points=1,
                  uses=("FeedForward",),
                  zh="FeedForward：up = Linear(D, d_ff)，down = Linear(d_ff, D)，d_ff 默认 4·D；"
                  "未知激活函数抛出 ValueError")
def _(ctx):
    for d, d_ff, act in ((6, None, "relu"), (5, 7, "gelu")):
        ctx.last_input = f"FeedForward(d_model={d}, d_ff={d_ff}, activation={act!r})"
        h = ctx.new("FeedForward", d, d_ff, act)
        f = 4 * d if d_ff is None else d_ff
        want = {"up.weight": (f, d), "up.bias": (f,), "down.weight": (d, f), "down.bias": (d,)}
        params = {name: shape for name, shape, _, _ in h.params()}
        if params != want:
            fail("feedforward_structure.parameters_differ_contract",
                 expected=", ".join(f"{k} {list(v)}" for k, v in want.items()),
                 got=", ".join(f"{k} {list(v)}" for k, v in sorted(params.items())) or "no parameters")
    for act in ("swish", "tanh"):
        ctx.last_input = f"FeedForward(d_model=4, activation={act!r})"
        ctx.raises("ValueError", "FeedForward", 4, None, act)


@checks.property("ffn_param_count_values",
                 "ffn_param_count = 2·D·d_ff (+ d_ff + D with bias); 8·D² for d_ff = 4·D without bias", points=2,
                 uses=("ffn_param_count",),
                 zh="ffn_param_count = 2·D·d_ff（有偏置时再加 d_ff + D）；d_ff = 4·D 且无偏置时为 8·D²")
def _(ctx):
    @ctx.given(st.integers(1, 64), st.one_of(st.none(), st.integers(1, 300)), st.booleans())
    def prop(d, d_ff, bias):
        got = ctx.call("ffn_param_count", d, d_ff, bias=bias)
        f = 4 * d if d_ff is None else d_ff
        want = 2 * d * f + (f + d if bias else 0)
        if not isinstance(got, int) or isinstance(got, bool):
            fail("ffn_param_count_values.expected_python_int", name=type(got).__name__)
        if got != want:
            fail("ffn_param_count_values.ffn_param_count", d=d, d_ff=d_ff, bias=bias, expected=str(want), got=str(got))

    prop()
