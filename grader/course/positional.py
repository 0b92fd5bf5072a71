"""Checks for `positional`: sinusoidal position vectors, learned position embeddings, and
rotary position embedding (RoPE) in the Llama "rotate half" layout.

The properties state the contract's formulas directly in numpy (no reference needed, so they
run the same in local mode): PE[p, 2i] = sin(p / base^(2i/D)), PE[p, 2i+1] = cos(...), and RoPE
as the rotation of feature pair (j, j + d/2) by positions[p] · base^(-2j/d), read off by
applying it to unit vectors. Sizes keep L != d and several heads. Tolerances: F64 / F32
(grader/checks.py); sinusoidal_positions returns the default dtype (float32 in the worker).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, Checks, expect_array, fail, noncontig
from grader.strategies import normal

checks = Checks("positional")


def sinusoidal_formula(L: int, D: int, base: float = 10000.0) -> np.ndarray:
    pe = np.zeros((L, D))
    for i in range(D // 2):
        angle = np.arange(L) / base ** (2 * i / D)
        pe[:, 2 * i], pe[:, 2 * i + 1] = np.sin(angle), np.cos(angle)
    return pe


def rope_formula(x: np.ndarray, positions: np.ndarray, base: float = 10000.0) -> np.ndarray:
    """out = x * cos + rotate_half(x) * sin, written pair by pair."""
    d = x.shape[-1]
    h = d // 2
    theta = positions[:, None].astype(np.float64) * base ** (-np.arange(0, d, 2) / d)   # (L, d/2)
    c, s = np.cos(theta), np.sin(theta)
    x1, x2 = x[..., :h], x[..., h:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)


# --- sinusoidal -----------------------------------------------------------------------------------


@checks.compare("sinusoidal_reference", "sinusoidal_positions(L, D) matches the reference", points=2,
                fn="sinusoidal_positions", zh="sinusoidal_positions(L, D) 与参考一致")
def _(rng):
    yield Case(args=(5, 4))
    yield Case(args=(7, 6), kwargs={"base": 100.0})
    yield Case(args=(1, 2))
    yield Case(args=(12, 8))
    yield Case(args=(3, 10))
    yield Case(args=(20, 16), kwargs={"base": 500.0})
    # the six above are the released snapshot; official mode draws its fresh cases from these
    for _ in range(8):
        yield Case(args=(int(rng.integers(2, 25)), 2 * int(rng.integers(1, 9))),
                   kwargs={"base": float(rng.choice([10000.0, 500.0, 100.0]))})


@checks.property("sinusoidal_properties",
                 "sinusoidal_positions: PE[p, 2i] = sin(p / base^(2i/D)), PE[p, 2i+1] = cos(same), "
                 "default dtype; ValueError for odd D", points=2, uses=("sinusoidal_positions",),
                 zh="sinusoidal_positions：PE[p, 2i] = sin(p / base^(2i/D))，PE[p, 2i+1] = cos(同一角度)，"
                 "默认 dtype；D 为奇数时抛出 ValueError")
def _(ctx):
    @ctx.given(st.integers(0, 24), st.integers(1, 8), st.sampled_from([10000.0, 100.0]))
    def prop(L, half, base):
        D = 2 * half
        pe = expect_array(ctx.call("sinusoidal_positions", L, D, base=base), (L, D), np.float32,
                          "sinusoidal_positions (default dtype float32)")
        want = sinusoidal_formula(L, D, base).astype(np.float32)
        if L > 1 and not np.allclose(pe, want, atol=1e-4):
            bad = np.argwhere(~np.isclose(pe, want, atol=1e-4))[0]
            p, col = int(bad[0]), int(bad[1])
            kind = "sin" if col % 2 == 0 else "cos"
            fail("sinusoidal_properties.pe_p_col", p=p, col=col, kind=kind, value=2 * (col // 2), D=D,
                 expected=f"{want[p, col]:.5f}",
                 got=f"{pe[p, col]:.5f}")
        ctx.close(pe, want, "sinusoidal_positions")

    prop()
    for D in (5, 1):
        ctx.last_input = f"L = 4, D = {D}"
        ctx.raises("ValueError", "sinusoidal_positions", 4, D)


# --- learned positions ----------------------------------------------------------------------------


@checks.compare_module("learned_positional_reference",
                       "LearnedPositionalEmbedding(x) = x + weight[:L] (forward and backward)", points=2,
                       cls="LearnedPositionalEmbedding",
                       zh="LearnedPositionalEmbedding(x) = x + weight[:L]（前向与反向）")
def _(rng):
    yield Case(init={"max_len": 6, "d_model": 4}, args=(normal(rng, (2, 3, 4)),), wrt=(0,))
    yield Case(init={"max_len": 5, "d_model": 3}, args=(normal(rng, (3, 5, 3)),), wrt=(0,))   # L = max_len
    yield Case(init={"max_len": 8, "d_model": 2}, args=(normal(rng, (1, 1, 2)),), wrt=(0,))
    yield Case(init={"max_len": 7, "d_model": 5}, args=(normal(rng, (2, 4, 5), np.float32),), wrt=(0,),
               dtype="float32")
    # a non-contiguous input cannot be a gradient leaf on the wire: parameter gradients only
    yield Case(init={"max_len": 9, "d_model": 6}, args=(noncontig(normal(rng, (2, 6, 6))),))
    yield Case(init={"max_len": 4, "d_model": 3}, args=(normal(rng, (4, 2, 3)),), wrt=(0,))
    for _ in range(2):
        M, D = int(rng.integers(4, 10)), int(rng.integers(2, 6))
        L = int(rng.integers(1, M + 1))
        yield Case(init={"max_len": M, "d_model": D}, args=(normal(rng, (int(rng.integers(1, 4)), L, D)),),
                   wrt=(0,))


@checks.behaviour("learned_positional_behaviour",
                  "LearnedPositionalEmbedding: one parameter `weight` (max_len, D); ValueError when "
                  "L > max_len", points=1, uses=("LearnedPositionalEmbedding",),
                  zh="LearnedPositionalEmbedding：唯一的参数 weight (max_len, D)；L > max_len 时抛出 ValueError")
def _(ctx):
    ctx.last_input = "LearnedPositionalEmbedding(max_len=6, d_model=4)"
    h = ctx.new("LearnedPositionalEmbedding", 6, 4)
    params = [(n, s, g) for n, s, g, _ in h.params()]
    if params != [("weight", (6, 4), True)]:
        fail("learned_positional_behaviour.expected_exactly_one",
             got=", ".join(f"{n} {list(s)}" for n, s, _ in params) or "no parameters")
    ctx.last_input = "LearnedPositionalEmbedding(max_len=6, d_model=4) on x [2, 7, 4]"
    h.raises("ValueError", "forward", np.zeros((2, 7, 4)))


# --- RoPE -----------------------------------------------------------------------------------------


@checks.compare("rope_reference", "apply_rope matches the reference (default and given positions, "
                "several heads)", points=4, fn="apply_rope",
                zh="apply_rope 与参考一致（默认位置与给定位置，多个头）")
def _(rng):
    yield Case(args=(normal(rng, (3, 4)),))
    yield Case(args=(normal(rng, (2, 5, 6)),))
    yield Case(args=(normal(rng, (2, 3, 4, 8)), np.array([0, 5, 2, 9], dtype=np.int64)))
    yield Case(args=(normal(rng, (2, 2, 5, 4), np.float32),), kwargs={"base": 100.0})
    yield Case(args=(noncontig(normal(rng, (6, 6))),))
    yield Case(args=(normal(rng, (3, 7, 2)), np.arange(10, 17, dtype=np.int64)))
    for _ in range(2):
        B, H, L, h = (int(v) for v in rng.integers(1, 5, size=4))
        yield Case(args=(normal(rng, (B, H, L, 2 * h)), rng.integers(0, 50, size=L).astype(np.int64)))


@checks.property("rope_properties",
                 "apply_rope: rotates feature j with j + d/2 by positions·base^(-2j/d); positions "
                 "default to 0..L-1; lengths kept; q·k depends only on the distance; ValueError for "
                 "odd d", points=3, uses=("apply_rope",),
                 zh="apply_rope：第 j 维与第 j + d/2 维按 positions·base^(-2j/d) 旋转；位置默认 0..L-1；"
                 "长度不变；q·k 只依赖距离；d 为奇数时抛出 ValueError")
def _(ctx):
    @ctx.given(st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**31 - 1))
    def prop(L, half, seed):
        d = 2 * half
        rng = np.random.default_rng(seed)
        # unit vectors e_j at every position: row j of the output is the rotation applied to e_j
        eye = np.repeat(np.eye(d)[:, None, :], L, axis=1)                 # (d, L, d)
        got = expect_array(ctx.call("apply_rope", eye), eye.shape, eye.dtype, "apply_rope(unit vectors)")
        want = rope_formula(eye, np.arange(L))
        ctx.close(got, want, "apply_rope(e_j) at positions 0..L-1 (pairs (j, j + d/2), default positions)")
        # lengths kept; q at m and k at n: the dot product only depends on m - n
        x = normal(rng, (2, L, d))
        out = expect_array(ctx.call("apply_rope", x), x.shape, x.dtype)
        ctx.close(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), "lengths after apply_rope")
        shift = int(rng.integers(1, 20))
        pos = rng.integers(0, 30, size=L).astype(np.int64)
        a = expect_array(ctx.call("apply_rope", x, pos), x.shape)
        b = expect_array(ctx.call("apply_rope", x, pos + shift), x.shape)
        ctx.close(b[0] @ b[1].T, a[0] @ a[1].T, f"q·k after shifting every position by {shift}")

    prop()
    ctx.last_input = "x [2, 3, 5] (odd d)"
    ctx.raises("ValueError", "apply_rope", np.ones((2, 3, 5)))
    ctx.last_input = "x [2, 3, 4], positions of length 4"
    ctx.raises("ValueError", "apply_rope", np.ones((2, 3, 4)), np.arange(4, dtype=np.int64))
