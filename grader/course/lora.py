"""Checks for `lora`: LoRALinear (structure, initialisation, forward, merge / unmerge),
apply_lora (which layers get wrapped, what stays trainable) and count_trainable_parameters.

Most checks need no reference: the expected values are numpy formulas
(``base(x) + alpha / r · x Aᵀ Bᵀ``, ``W + alpha / r · B A``) on weights the check loads into
the student's layer, with a non-zero B so that a missing scale shows. The module comparison
with the reference (forward and backward) runs at initialisation (B = 0), where the gradient
of B still carries the scale. Tolerances: F64 / F32 (grader/checks.py).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from grader.checks import F32, Case, Checks, expect_array, fail, linear, noncontig
from grader.strategies import normal

checks = Checks("lora")

F64_DTYPE = {"$dtype": "float64"}


def _layer(ctx, w: np.ndarray, b: np.ndarray | None, A: np.ndarray, B: np.ndarray, alpha: float):
    """The student's LoRALinear around nn.Linear(w, b), with lora_A = A and lora_B = B loaded."""
    h = ctx.new("LoRALinear", linear(w, b), A.shape[0], alpha)
    state = {"base.weight": w, "lora_A": A, "lora_B": B}
    if b is not None:
        state["base.bias"] = b
    h.load_state_dict(state)
    return h


def _forward(x, w, b, A, B, alpha):
    out = x @ w.T + (0.0 if b is None else b)
    return out + (alpha / A.shape[0]) * (x @ A.T) @ B.T


def _draw(rng: np.random.Generator, d_in: int, d_out: int, r: int, bias: bool = True, dtype=np.float64):
    w, A, B = normal(rng, (d_out, d_in), dtype), normal(rng, (r, d_in), dtype), normal(rng, (d_out, r), dtype)
    b = normal(rng, (d_out,), dtype) if bias else None
    return w, b, A, B


def _weight(h, what: str, shape) -> np.ndarray:
    sd = h.state_dict()
    if "base.weight" not in sd:
        fail("weight.layer_base_weight",
             got=", ".join(sorted(sd)))
    return expect_array(sd["base.weight"], shape, what=what)


# --- LoRALinear ----------------------------------------------------------------------------------


@checks.behaviour("lora_linear_structure",
                  "LoRALinear keeps `base` (the same nn.Linear, frozen), adds trainable lora_A (r, in) "
                  "and lora_B (out, r), scaling = alpha / r, merged = False; r < 1 raises ValueError", points=2,
                  uses=("LoRALinear",),
                  zh="LoRALinear 保留同一个 base（冻结），新增可训练的 lora_A (r, in)、lora_B (out, r)，"
                  "scaling = alpha / r，merged = False；r < 1 时抛出 ValueError")
def _(ctx):
    for d_in, d_out, r, alpha, bias in ((5, 3, 2, 6.0, True), (4, 7, 3, 1.0, False)):
        ctx.last_input = f"LoRALinear(nn.Linear({d_in}, {d_out}, bias={bias}, dtype=float64), r={r}, alpha={alpha})"
        lin = ctx.new_from("torch", "nn.Linear", d_in, d_out, bias=bias, dtype=F64_DTYPE)
        h = ctx.new("LoRALinear", lin, r, alpha)
        if not h.same("base", lin):
            fail("lora_linear_structure.self_base_nn")
        params = {name: (shape, grad) for name, shape, grad, _ in h.params()}
        want = {"base.weight": ((d_out, d_in), False), "lora_A": ((r, d_in), True), "lora_B": ((d_out, r), True)}
        if bias:
            want["base.bias"] = ((d_out,), False)
        if params != want:
            fmt = lambda d: ", ".join(f"{k} {list(s)}{'' if g else ' (frozen)'}" for k, (s, g) in sorted(d.items()))
            frozen_wrong = [k for k in want if k in params and params[k][1] != want[k][1]]
            why = "base_frozen" if frozen_wrong and set(params) == set(want) else "parameters_differ"
            fail(f"lora_linear_structure.{why}", expected=fmt(want), got=fmt(params) or "no parameters")
        merged, scaling = h.get("merged"), h.get("scaling")
        if merged is not False:
            fail("lora_linear_structure.new_loralinear_merged", got=repr(merged))
        if not isinstance(scaling, (int, float)) or isinstance(scaling, bool) or \
                not math.isclose(scaling, alpha / r, rel_tol=1e-12):
            fail("lora_linear_structure.scaling_alpha_r", expected=repr(alpha / r), got=repr(scaling))
        sd = h.state_dict()
        for name in ("lora_A", "lora_B"):
            expect_array(sd.get(name), want[name][0], np.float64, f"{name} (dtype of base.weight)")
    w = np.ones((2, 3))
    for r in (0, -1):
        ctx.last_input = f"LoRALinear(nn.Linear(3, 2), r={r})"
        ctx.raises("ValueError", "LoRALinear", linear(w, None), r)


@checks.statistical("lora_linear_init",
                    "LoRALinear at initialisation: lora_B is zero, lora_A ~ U(±1/sqrt(in)) "
                    "(kaiming_uniform_, a=sqrt(5)), so the layer equals its base", points=2,
                    uses=("LoRALinear",),
                    zh="初始化：lora_B 全为 0，lora_A ~ U(±1/sqrt(in))（kaiming_uniform_，a=sqrt(5)），"
                    "所以包装后的层与原层相同")
def _(ctx):
    # 16 384 draws of U(-b, b): P(max|A| < 0.98 b) = 0.98^16384 ≈ e^-331; the sample std is
    # within 1% of b/sqrt(3) at ~3 sigma and 6% is allowed; |mean| < 0.05 b is 11 sigma.
    # (nn.Linear's own init, kaiming_uniform_ with a=sqrt(5), has exactly this bound.)
    rng = np.random.default_rng([ctx.seed % 2**32, 11])
    d_in, d_out, r = 256, 8, 64
    w, b = normal(rng, (d_out, d_in)), normal(rng, (d_out,))
    ctx.last_input = f"LoRALinear(nn.Linear({d_in}, {d_out}), r={r}, alpha=16.0)"
    h = ctx.new("LoRALinear", linear(w, b), r, 16.0)
    sd = h.state_dict()
    A = expect_array(sd.get("lora_A"), (r, d_in), what="lora_A")
    B = expect_array(sd.get("lora_B"), (d_out, r), what="lora_B")
    if np.any(B != 0):
        fail("lora_linear_init.lora_b_start",
             got=f"{int(np.count_nonzero(B))} non-zero entries")
    bound = 1.0 / math.sqrt(d_in)
    amax, std, mean = float(np.abs(A).max()), float(A.std()), float(A.mean())
    if amax > bound * (1 + 1e-6) or amax < 0.98 * bound or abs(std / (bound / math.sqrt(3)) - 1) > 0.06 \
            or abs(mean) > 0.05 * bound:
        fail("lora_linear_init.lora_drawn_like", bound=bound,
             expected=f"max |A| ≈ {bound:.4f}, std ≈ {bound / math.sqrt(3):.4f}, mean ≈ 0",
             got=f"max |A| = {amax:.4f}, std = {std:.4f}, mean = {mean:.4f}")
    x = normal(rng, (3, 2, d_in))
    ctx.last_input = f"x [3, 2, {d_in}] through a fresh LoRALinear(nn.Linear({d_in}, {d_out}), r={r})"
    ctx.close(expect_array(h(x), (3, 2, d_out), np.float64), x @ w.T + b, "fresh LoRALinear(x) vs base(x)")


@checks.property("lora_linear_forward",
                 "LoRALinear.forward = base(x) + (alpha / r) · (x Aᵀ) Bᵀ for any A, B (float64 and float32)", points=3,
                 uses=("LoRALinear",), zh="LoRALinear.forward = base(x) + (alpha / r) · (x Aᵀ) Bᵀ")
def _(ctx):
    @ctx.given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.sampled_from([1.0, 2.0, 8.0, 3.5]),
               st.booleans(), st.integers(0, 2**31 - 1))
    def prop(d_in, d_out, r, alpha, bias, seed):
        rng = np.random.default_rng(seed)
        w, b, A, B = _draw(rng, d_in, d_out, r, bias)
        x = normal(rng, (2, 3, d_in))
        h = _layer(ctx, w, b, A, B, alpha)
        y = expect_array(h(x), (2, 3, d_out), np.float64, "LoRALinear(x)")
        ctx.close(y, _forward(x, w, b, A, B, alpha), "LoRALinear(x)")

    prop()
    rng = np.random.default_rng([ctx.seed % 2**32, 5])
    w, b, A, B = _draw(rng, 6, 4, 2, dtype=np.float32)
    x = normal(rng, (3, 6), np.float32)
    ctx.last_input = "float32: LoRALinear(nn.Linear(6, 4), r=2, alpha=8.0) with random A, B; x [3, 6] (non-contiguous)"
    h = _layer(ctx, w, b, A, B, 8.0)
    y = expect_array(h(noncontig(x)), (3, 4), np.float32, "LoRALinear(x) for float32 x")
    ctx.close(y, _forward(x.astype(np.float64), w, b, A, B, 8.0).astype(np.float32), "LoRALinear(x)", tol=F32)


@checks.compare_module("lora_linear_reference",
                       "LoRALinear matches the reference (forward and gradients of x, lora_A, lora_B)", points=2,
                       cls="LoRALinear", zh="LoRALinear 的输出与梯度（x、lora_A、lora_B）与参考一致")
def _(rng):
    for d_in, d_out, r, alpha, shape in ((5, 3, 2, 6.0, (2, 5)), (4, 6, 1, 1.0, (2, 3, 4)),
                                         (6, 4, 3, 8.0, (3, 2, 6)), (3, 5, 4, 2.0, (4, 3))):
        yield Case(init_args=(linear(normal(rng, (d_out, d_in)), normal(rng, (d_out,))), r, alpha),
                   args=(normal(rng, shape),), wrt=(0,),
                   label=f"LoRALinear(nn.Linear({d_in}, {d_out}), r={r}, alpha={alpha}) on x float64{list(shape)}")


@checks.property("lora_merge",
                 "merge() folds (alpha / r) · B A into base.weight, sets merged, keeps the output; "
                 "a second merge() changes nothing", points=3,
                 uses=("LoRALinear.merge", "LoRALinear"),
                 zh="merge() 把 (alpha / r) · B A 合并进 base.weight、设置 merged、输出不变；"
                 "再次 merge() 不改变任何东西")
def _(ctx):
    @ctx.given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 3), st.sampled_from([1.0, 4.0, 6.0]),
               st.integers(0, 2**31 - 1))
    def prop(d_in, d_out, r, alpha, seed):
        rng = np.random.default_rng(seed)
        w, b, A, B = _draw(rng, d_in, d_out, r)
        x = normal(rng, (4, d_in))
        h = _layer(ctx, w, b, A, B, alpha)
        before = expect_array(h(x), (4, d_out), np.float64, "output before merge()")
        h.call("merge")
        if h.get("merged") is not True:
            fail("lora_merge.after_merge_merged")
        merged_w = w + (alpha / r) * B @ A
        ctx.close(_weight(h, "base.weight after merge()", w.shape), merged_w, "base.weight after merge()")
        ctx.close(expect_array(h(x), (4, d_out), what="output after merge()"), before, "output after merge()")
        h.call("merge")
        ctx.close(_weight(h, "base.weight after a second merge()", w.shape), merged_w,
                  "base.weight after a second merge() (must be a no-op)")
        ctx.close(expect_array(h(x), (4, d_out), what="output after a second merge()"), before,
                  "output after a second merge()")

    prop()


@checks.property("lora_unmerge",
                 "unmerge() restores the pretrained weight and the output; unmerge() when not merged "
                 "changes nothing", points=2,
                 uses=("LoRALinear.unmerge", "LoRALinear.merge", "LoRALinear"),
                 zh="unmerge() 恢复预训练权重与输出；未合并时 unmerge() 不改变任何东西")
def _(ctx):
    @ctx.given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 3), st.sampled_from([1.0, 4.0, 6.0]),
               st.integers(0, 2**31 - 1))
    def prop(d_in, d_out, r, alpha, seed):
        rng = np.random.default_rng(seed)
        w, b, A, B = _draw(rng, d_in, d_out, r)
        x = normal(rng, (4, d_in))
        want = _forward(x, w, b, A, B, alpha)
        h = _layer(ctx, w, b, A, B, alpha)
        h.call("unmerge")
        ctx.close(_weight(h, "base.weight", w.shape), w, "base.weight after unmerge() on a layer never merged")
        h.call("merge")
        h.call("unmerge")
        if h.get("merged") is not False:
            fail("lora_unmerge.after_unmerge_merged")
        ctx.close(_weight(h, "base.weight", w.shape), w, "base.weight after merge() then unmerge()")
        ctx.close(expect_array(h(x), (4, d_out), what="output"), want, "output after merge() then unmerge()")
        h.call("unmerge")
        ctx.close(_weight(h, "base.weight", w.shape), w, "base.weight after a second unmerge() (must be a no-op)")

    prop()


# --- apply_lora, count_trainable_parameters --------------------------------------------------------


def _toy_model(ctx):
    """blocks: 2 × {attn: {q_proj 6→4, k_proj 6→4, v_proj 6→5, o_proj 5→6}, ffn: {up, down},
    q_proj: nn.Identity (the right name, not a Linear), ln}, plus emb and head."""
    def lin(i, o, bias=True):
        return ctx.new_from("torch", "nn.Linear", i, o, bias=bias, dtype=F64_DTYPE)

    blocks = []
    for _ in range(2):
        attn = ctx.new_from("torch", "nn.ModuleDict", {"q_proj": lin(6, 4), "k_proj": lin(6, 4, False),
                                                       "v_proj": lin(6, 5), "o_proj": lin(5, 6)})
        ffn = ctx.new_from("torch", "nn.ModuleDict", {"up": lin(6, 12), "down": lin(12, 6)})
        blocks.append(ctx.new_from("torch", "nn.ModuleDict", {
            "attn": attn, "ffn": ffn, "q_proj": ctx.new_from("torch", "nn.Identity"),
            "ln": ctx.new_from("torch", "nn.LayerNorm", 6)}))
    return ctx.new_from("torch", "nn.ModuleDict", {
        "emb": ctx.new_from("torch", "nn.Embedding", 10, 6), "blocks": ctx.new_from("torch", "nn.ModuleList", blocks),
        "head": lin(6, 3)})


@checks.behaviour("apply_lora_targets",
                  "apply_lora wraps exactly the nn.Linear layers with a target name (at any depth), "
                  "freezes everything else, and returns the same model", points=3,
                  uses=("apply_lora", "LoRALinear"),
                  zh="apply_lora 只包装名字在 target_names 中的 nn.Linear（任意深度），冻结其余参数，返回同一个模型")
def _(ctx):
    ctx.last_input = ("apply_lora(model, ['q_proj', 'v_proj'], r=2, alpha=4.0) on blocks.{0,1}.attn.{q,k,v,o}_proj, "
                      "blocks.{0,1}.ffn.{up,down}, blocks.{0,1}.q_proj = nn.Identity(), emb, head")
    model = _toy_model(ctx)
    before = {name for name, _, _, _ in model.params()}
    sd = model.state_dict()
    q_w = expect_array(sd.get("blocks.0.attn.q_proj.weight"), (4, 6), what="blocks.0.attn.q_proj.weight")
    q_b = expect_array(sd.get("blocks.0.attn.q_proj.bias"), (4,), what="blocks.0.attn.q_proj.bias")
    out = ctx.store("apply_lora", model, ["q_proj", "v_proj"], 2, 4.0)
    if not out.same("", model):
        fail("apply_lora_targets.apply_lora_change")
    wrapped = {f"blocks.{i}.attn.{p}" for i in range(2) for p in ("q_proj", "v_proj")}
    want_names = set()
    for name in before:
        prefix, _, leaf = name.rpartition(".")
        want_names.add(f"{prefix}.base.{leaf}" if prefix in wrapped else name)
    want_trainable = {f"{p}.lora_{m}" for p in wrapped for m in "AB"}
    want_names |= want_trainable
    params = model.params()
    names = {name for name, _, _, _ in params}
    if names != want_names:
        extra = sorted(n for n in names - want_names if n.endswith(("lora_A", "lora_B")))
        missing = sorted(want_names - names)
        why = "extra_wrapped" if extra else "not_all_wrapped" if missing else "names_differ"
        fail(f"apply_lora_structure.{why}", expected="LoRA on " + ", ".join(sorted(wrapped)),
             got=("also on " + ", ".join(extra[:4])) if extra else ("missing " + ", ".join(missing[:4])))
    trainable = {name for name, _, grad, _ in params if grad}
    if trainable != want_trainable:
        wrong = sorted(trainable - want_trainable)
        fail("apply_lora_targets.only_new_lora",
             expected=", ".join(sorted(want_trainable)[:4]) + ", …",
             got=("also trainable: " + ", ".join(wrong[:4])) if wrong else
             "not trainable: " + ", ".join(sorted(want_trainable - trainable)[:4]))
    shapes = {name: shape for name, shape, _, _ in params}
    a_shape, b_shape = shapes["blocks.1.attn.v_proj.lora_A"], shapes["blocks.1.attn.v_proj.lora_B"]
    if a_shape != (2, 6) or b_shape != (5, 2):
        fail("apply_lora_targets.lora_r_lora", expected="v_proj: lora_A [2, 6], lora_B [5, 2]",
             got=f"lora_A {list(a_shape)}, lora_B {list(b_shape)}")
    rng = np.random.default_rng([ctx.seed % 2**32, 3])
    x = normal(rng, (3, 6))
    layer = model.sub("blocks.0.attn.q_proj")
    ctx.close(expect_array(layer(x), (3, 4), what="blocks.0.attn.q_proj(x)"), x @ q_w.T + q_b,
              "the wrapped q_proj at initialisation vs the original layer")


@checks.behaviour("count_trainable_shared",
                  "count_trainable_parameters counts elements with requires_grad, a shared (tied) parameter once",
                  points=1, uses=("count_trainable_parameters",),
                  zh="count_trainable_parameters 统计 requires_grad 的参数元素个数，共享参数只算一次")
def _(ctx):
    ctx.last_input = ("ModuleDict(emb = nn.Embedding(11, 6), head = nn.Linear(6, 11, bias=False) with head.weight "
                      "IS emb.weight, lin = nn.Linear(6, 4), frozen = nn.Linear(4, 3) with requires_grad False)")
    emb = ctx.new_from("torch", "nn.Embedding", 11, 6)
    head = ctx.new_from("torch", "nn.Linear", 6, 11, bias=False)
    head.call_raw("register_parameter", "weight", emb.sub("weight"))
    frozen = ctx.new_from("torch", "nn.Linear", 4, 3)
    frozen.call_raw("requires_grad_", False)
    model = ctx.new_from("torch", "nn.ModuleDict", {"emb": emb, "head": head,
                                                    "lin": ctx.new_from("torch", "nn.Linear", 6, 4),
                                                    "frozen": frozen})
    n = ctx.call("count_trainable_parameters", model)
    if not isinstance(n, int) or isinstance(n, bool):
        fail("count_trainable_shared.count_trainable_parameters", got=type(n).__name__)
    want = 11 * 6 + (6 * 4 + 4)
    if n != want:
        why = "tied_twice" if n == want + 66 else "frozen_counted" if n in (want + 15, want + 81) else "wrong"
        fail(f"count_trainable_shared.{why}", expected=str(want), got=str(n))
