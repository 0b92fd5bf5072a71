"""Checks for `multihead`: split/merge heads, MultiHeadAttention (self, cross, per-head
probabilities), repeat_kv and GroupedQueryAttention.

Sizes are chosen so that axis mistakes show: B != L != D, Lq != Lk, several heads with
dh != H, n_rep > 1 with several kv heads (tiling and repeating then differ). Module checks
load the reference's weights into the student's module and compare the output, the input
gradients and every parameter gradient. Tolerances: F64 / F32 (grader/checks.py).
"""

from __future__ import annotations

import numpy as np

from grader.checks import Case, Checks, fail, noncontig
from grader.strategies import normal, random_mask

checks = Checks("multihead")


def _heads(rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(B, L, H, dh), B != L and H != dh, drawn small."""
    H, dh = (int(v) for v in rng.choice([2, 3, 4], size=2, replace=False))
    B = int(rng.integers(1, 4))
    L = int(rng.choice([v for v in range(2, 7) if v != B]))
    return B, L, H, dh


# --- split / merge ------------------------------------------------------------------------------


@checks.compare("split_heads_reference", "split_heads: [B, L, H*dh] -> [B, H, L, dh], head h owns "
                "features h*dh:(h+1)*dh", points=2, fn="split_heads",
                zh="split_heads：[B, L, H*dh] -> [B, H, L, dh]，第 h 个头拥有特征 h*dh:(h+1)*dh")
def _(rng):
    yield Case(args=(normal(rng, (2, 5, 12)), 3))
    yield Case(args=(normal(rng, (3, 2, 8)), 4))
    yield Case(args=(noncontig(normal(rng, (2, 4, 6))), 2))
    yield Case(args=(normal(rng, (1, 3, 10), np.float32), 5))
    for _ in range(2):
        B, L, H, dh = _heads(rng)
        yield Case(args=(normal(rng, (B, L, H * dh)), H))


@checks.compare("merge_heads_reference", "merge_heads: [B, H, L, dh] -> [B, L, H*dh], the inverse of "
                "split_heads", fn="merge_heads", zh="merge_heads：[B, H, L, dh] -> [B, L, H*dh]，split_heads 的逆运算",
                points=2)
def _(rng):
    yield Case(args=(normal(rng, (2, 3, 5, 4)),))
    yield Case(args=(normal(rng, (3, 4, 2, 3)),))
    yield Case(args=(noncontig(normal(rng, (2, 2, 3, 5))),))
    yield Case(args=(normal(rng, (1, 2, 4, 3), np.float32),))
    for _ in range(2):
        B, L, H, dh = _heads(rng)
        yield Case(args=(normal(rng, (B, H, L, dh)),))


# --- MultiHeadAttention ---------------------------------------------------------------------------


def _mha_init(rng: np.random.Generator, **kw) -> tuple[int, int, dict]:
    B, L, H, dh = _heads(rng)
    return B, L, {"d_model": H * dh, "n_heads": H} | kw


@checks.compare_module("mha_self_reference",
                       "MultiHeadAttention (self-attention, with masks) matches the reference "
                       "with the same weights (forward and backward)", points=4,
                       cls="MultiHeadAttention", uses=("split_heads", "merge_heads"),
                       zh="相同权重下多头自注意力（含掩码）的输出与梯度与参考一致")
def _(rng):
    B, L, init = _mha_init(rng)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),), wrt=(0,))
    B, L, init = _mha_init(rng)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),),
               kwargs={"mask": np.tril(np.ones((L, L), dtype=bool))}, wrt=(0,))
    B, L, init = _mha_init(rng, bias=False)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),),
               kwargs={"mask": random_mask(rng, (B, 1, 1, L))}, wrt=(0,))
    B, L, init = _mha_init(rng)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"]), np.float32),),
               kwargs={"mask": random_mask(rng, (B, init["n_heads"], L, L))}, wrt=(0,), dtype="float32")


@checks.compare_module("mha_cross_reference",
                       "MultiHeadAttention (cross-attention: queries from x, keys and values from kv) "
                       "matches the reference (forward and backward)", points=2,
                       cls="MultiHeadAttention", uses=("split_heads", "merge_heads"),
                       zh="交叉注意力（Q 来自 x，K、V 来自 kv）的输出与梯度与参考一致")
def _(rng):
    for mask_kind in ("none", "keys", "full"):
        B, Lq, init = _mha_init(rng)
        Lk = Lq + int(rng.integers(1, 3))
        D = init["d_model"]
        masks = {"none": {}, "keys": {"mask": random_mask(rng, (B, 1, 1, Lk))},
                 "full": {"mask": random_mask(rng, (Lq, Lk))}}
        yield Case(init=init, args=(normal(rng, (B, Lq, D)), normal(rng, (B, Lk, D))),
                   kwargs=masks[mask_kind], wrt=(0, 1))
    B, Lq, init = _mha_init(rng)
    D = init["d_model"]
    yield Case(init=init, args=(normal(rng, (B, Lq, D), np.float32), normal(rng, (B, Lq + 2, D), np.float32)),
               kwargs={"mask": random_mask(rng, (B, 1, 1, Lq + 2))}, wrt=(0, 1), dtype="float32")


@checks.compare_module("mha_weights_reference",
                       "MultiHeadAttention(need_weights=True) returns (out, probs [B, H, Lq, Lk]): "
                       "one probability matrix per head", points=2,
                       cls="MultiHeadAttention", uses=("split_heads", "merge_heads"),
                       zh="need_weights=True 时返回 (out, probs [B, H, Lq, Lk])：每个头各自的概率")
def _(rng):
    B, L, init = _mha_init(rng)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),),
               kwargs={"need_weights": True}, wrt=(0,))
    B, L, init = _mha_init(rng)
    D = init["d_model"]
    yield Case(init=init, args=(normal(rng, (B, L, D)), normal(rng, (B, L + 1, D))),
               kwargs={"mask": random_mask(rng, (B, 1, 1, L + 1)), "need_weights": True}, wrt=(0, 1))
    B, L, init = _mha_init(rng)
    yield Case(init=init, args=(normal(rng, (B, L, init["d_model"])),),
               kwargs={"mask": random_mask(rng, (B, 1, L, L)), "need_weights": True}, wrt=(0,))


def _params_match(h, want: dict[str, tuple[int, ...]]) -> None:
    params = {name: shape for name, shape, _, _ in h.params()}
    if params != want:
        fail("params_match.parameters_differ_contract",
             expected=", ".join(f"{k} {list(v)}" for k, v in sorted(want.items())),
             got=", ".join(f"{k} {list(v)}" for k, v in sorted(params.items())) or "no parameters")


@checks.behaviour("mha_structure",
                  "MultiHeadAttention: q_proj, k_proj, v_proj, o_proj are Linear(D, D, bias=bias); "
                  "ValueError when n_heads does not divide d_model", points=1,
                  uses=("MultiHeadAttention",),
                  zh="MultiHeadAttention：四个投影均为 Linear(D, D, bias=bias)；D 不能被 H 整除时抛出 ValueError")
def _(ctx):
    for d, h, bias in ((12, 3, True), (8, 2, False)):
        ctx.last_input = f"MultiHeadAttention(d_model={d}, n_heads={h}, bias={bias})"
        mha = ctx.new("MultiHeadAttention", d, h, bias=bias)
        want = {f"{p}.weight": (d, d) for p in ("q_proj", "k_proj", "v_proj", "o_proj")}
        if bias:
            want |= {f"{p}.bias": (d,) for p in ("q_proj", "k_proj", "v_proj", "o_proj")}
        _params_match(mha, want)
    ctx.last_input = "MultiHeadAttention(d_model=10, n_heads=3)"
    ctx.raises("ValueError", "MultiHeadAttention", 10, 3)


# --- grouped-query attention -------------------------------------------------------------------


@checks.compare("repeat_kv_reference", "repeat_kv repeats every kv head in place (0,0,..,1,1,..)", points=2,
                fn="repeat_kv", zh="repeat_kv 把每个 K/V 头原地重复（0,0,..,1,1,..）")
def _(rng):
    yield Case(args=(normal(rng, (2, 3, 4, 5)), 2))
    yield Case(args=(normal(rng, (1, 2, 3, 4)), 3))
    yield Case(args=(normal(rng, (2, 4, 3, 2)), 1))
    yield Case(args=(normal(rng, (3, 2, 2, 3), np.float32), 4))
    for _ in range(2):
        B, L, Hkv, dh = _heads(rng)
        yield Case(args=(normal(rng, (B, Hkv, L, dh)), int(rng.integers(2, 4))))


@checks.compare_module("gqa_reference",
                       "GroupedQueryAttention matches the reference with the same weights "
                       "(multi-query, grouped and full kv heads; forward and backward)", points=4,
                       cls="GroupedQueryAttention", uses=("split_heads", "merge_heads", "repeat_kv"),
                       zh="相同权重下分组查询注意力（多查询、分组、完整 K/V 头）的输出与梯度与参考一致")
def _(rng):
    # (n_heads, n_kv_heads): grouped with n_rep 2 and 3, multi-query, full (n_kv == n_heads, with bias)
    for (H, kv), extra in (((4, 2), {}), ((6, 2), {}), ((4, 1), {}), ((3, 3), {"bias": True})):
        dh = int(rng.integers(2, 4))
        B = int(rng.integers(1, 4))
        L = int(rng.choice([v for v in range(2, 7) if v != B]))
        mask = ({} if kv == 2 and H == 4 else
                {"mask": np.tril(np.ones((L, L), dtype=bool))} if kv == 2 else
                {"mask": random_mask(rng, (B, 1, 1, L))})
        yield Case(init={"d_model": H * dh, "n_heads": H, "n_kv_heads": kv} | extra,
                   args=(normal(rng, (B, L, H * dh)),), kwargs=mask, wrt=(0,))
    yield Case(init={"d_model": 12, "n_heads": 4, "n_kv_heads": 2}, args=(normal(rng, (2, 3, 12), np.float32),),
               kwargs={"mask": random_mask(rng, (2, 4, 3, 3))}, wrt=(0,), dtype="float32")


@checks.behaviour("gqa_structure",
                  "GroupedQueryAttention: k_proj, v_proj are Linear(D, n_kv_heads*dh), no bias by default; "
                  "ValueError for head counts that do not divide", points=1,
                  uses=("GroupedQueryAttention",),
                  zh="GroupedQueryAttention：k_proj、v_proj 为 Linear(D, n_kv_heads*dh)，默认无偏置；"
                  "头数不能整除时抛出 ValueError")
def _(ctx):
    for d, h, kv in ((12, 4, 2), (8, 4, 1), (6, 3, 3)):
        ctx.last_input = f"GroupedQueryAttention(d_model={d}, n_heads={h}, n_kv_heads={kv})"
        gqa = ctx.new("GroupedQueryAttention", d, h, kv)
        dkv = kv * (d // h)
        _params_match(gqa, {"q_proj.weight": (d, d), "k_proj.weight": (dkv, d),
                            "v_proj.weight": (dkv, d), "o_proj.weight": (d, d)})
    for d, h, kv in ((12, 4, 3), (10, 4, 2)):
        ctx.last_input = f"GroupedQueryAttention(d_model={d}, n_heads={h}, n_kv_heads={kv})"
        ctx.raises("ValueError", "GroupedQueryAttention", d, h, kv)

