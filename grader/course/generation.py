"""Checks for `generation`: forward_with_cache, top_p_filter, repetition_penalty,
generate_cached and stream_decode.

The model is the student's own MiniGPT (exercise `models`), built in the worker and loaded
with weights drawn here, in float64; the cached forward and the generation are judged
against that same model's full forward, so the checks need no reference and judge the same
in local and official mode:
- forward_with_cache: logits at the new positions equal ``model(full_ids)`` there, after
  several calls of different lengths (batch > 1); block 0's cached keys/values equal
  ``split_heads(k_proj(ln1(tok_emb + pos_emb)))`` computed here in numpy; the cache after
  several calls equals the cache of one call on the whole sequence;
- greedy generation (temperature 0): every new token is the argmax of the model's own
  logits for the sequence so far (what ``model.generate`` picks), checked token by token on
  the submission's own output, so near-ties (within 1e-9, far above float64 rounding and far
  below any real difference) may go either way;
- "one forward per new token": forward pre-hooks (``$shape_log``) on every block's k_proj and
  v_proj count the positions each call runs on: one call over the prompt, then B positions
  per call; recomputing the sequence shows at once, and faking the count means computing
  the projections without calling them while calling them the right number of times;
- eos handling on a hand-built MiniGPT whose greedy next token is succ[current token] (a
  cycle), so rows finish at different steps; sampling on hand-built MiniGPTs whose logits
  are the same chosen vector at every position (ln_f.weight = 0), so the distribution of the
  first new token is known: repetition penalty, then temperature, then top-k, then top-p;
  3 settings x 8,000 draws, every frequency within a Bernstein bound at 1e-9 per token
  (24 tokens: an honest sampler fails with probability below 3e-8);
- top_p_filter and repetition_penalty are compared with the reference (snapshot in local
  mode), on logits without ties whose cumulative probabilities stay 1e-4 away from 1 - top_p
  (the oracle tests compare the reference with 🤗 transformers' processors), by value only: the
  contract asks no gradient of them (a correct filter may run under torch.no_grad), and the
  reference's gather / scatter gives a repeated id its gradient once per occurrence;
- stream_decode on Chinese text (3 bytes a character) and emoji cut into tokens at random
  byte offsets: the pieces joined equal the text, and with a one-pass iterator of ids, the
  text yielded before the next id is read is all that the ids read so far can decode.
Tolerances: F64 / F32 (grader/checks.py).
"""

from __future__ import annotations

import math

import numpy as np

from grader.checks import Case, CheckFailed, Checks, Handle, StudentError, expect_array, fail, generator
from grader.messages import msg
from grader.strategies import arrays, normal

checks = Checks("generation")

TIE = 1e-9  # logits closer than this (relative to their scale) count as a tie
N_DRAWS = 8_000
DELTA = 1e-9  # allowed failure probability per token frequency


# --- models built in the worker --------------------------------------------------------------


def _init(rng: np.random.Generator, max_len: int | None = None, n_layers: int | None = None) -> dict:
    """MiniGPT arguments with D = H * dh, V != D, d_ff != 4·D, room for several steps."""
    H, dh = (int(v) for v in rng.choice([2, 3, 4], size=2, replace=False))
    return {"vocab_size": int(rng.integers(9, 15)), "max_len": max_len or int(rng.integers(8, 11)),
            "d_model": H * dh, "n_heads": H, "n_layers": n_layers or int(rng.integers(1, 3)),
            "d_ff": int(rng.integers(5, 11))}


def _linear_shapes(D: int, d_ff: int) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
        shapes[f"attn.{p}.weight"], shapes[f"attn.{p}.bias"] = (D, D), (D,)
    shapes["ffn.up.weight"], shapes["ffn.up.bias"] = (d_ff, D), (d_ff,)
    shapes["ffn.down.weight"], shapes["ffn.down.bias"] = (D, d_ff), (D,)
    for ln in ("ln1", "ln2"):
        shapes[f"{ln}.weight"], shapes[f"{ln}.bias"] = (D,), (D,)
    return shapes


def _random_state(rng: np.random.Generator, init: dict) -> dict[str, np.ndarray]:
    """Random weights under the contract's names; positions matter as much as tokens."""
    V, ML, D, N, d_ff = (init[k] for k in ("vocab_size", "max_len", "d_model", "n_layers", "d_ff"))
    state = {"tok_emb.weight": normal(rng, (V, D)), "pos_emb.weight": normal(rng, (ML, D))}
    for i in range(N):
        for name, shape in _linear_shapes(D, d_ff).items():
            if name.startswith("ln") and name.endswith("weight"):
                value = 1.0 + normal(rng, shape, scale=0.2)
            elif len(shape) == 2:
                value = normal(rng, shape, scale=1.5 / math.sqrt(shape[1]))
            else:
                value = normal(rng, shape, scale=0.3)
            state[f"blocks.{i}.{name}"] = value
    state["ln_f.weight"] = 1.0 + normal(rng, (D,), scale=0.2)
    state["ln_f.bias"] = normal(rng, (D,), scale=0.2)
    state["lm_head.proj.weight"] = state["tok_emb.weight"]
    return state


def _constant_state(rng: np.random.Generator, target: np.ndarray, max_len: int) -> tuple[dict, dict]:
    """A one-layer MiniGPT whose logits are ``target`` at every position: ln_f.weight = 0, so
    ln_f outputs its bias b, and the tied head gives tok_emb.weight @ b = target."""
    V = target.size
    H, dh = 2, 6
    D = H * dh
    init = {"vocab_size": V, "max_len": max_len, "d_model": D, "n_heads": H, "n_layers": 1, "d_ff": 7}
    state = _random_state(rng, init)
    E = state["tok_emb.weight"]
    state["ln_f.weight"] = np.zeros(D)
    state["ln_f.bias"] = np.linalg.lstsq(E, target, rcond=None)[0]
    return init, state


def _successor_state(rng: np.random.Generator) -> tuple[dict, dict, np.ndarray]:
    """A one-layer MiniGPT whose greedy next token is succ[the current token], succ one cycle.

    Slots of D = 32: token one-hot [0, V), position one-hot [V, V+ML), "next" one-hot
    [V+ML, D). Head 0 attends to its own position (queries and keys read the position slots;
    score gap > 100), its value carries the token code and o_proj writes succ[token] into the
    "next" slots, which the tied head reads (logit gap about 4). The FFN is zero.
    """
    V, ML, H, dh, d_ff = 8, 16, 2, 16, 4
    D = H * dh
    init = {"vocab_size": V, "max_len": ML, "d_model": D, "n_heads": H, "n_layers": 1, "d_ff": d_ff}
    cycle = rng.permutation(V)
    succ = np.empty(V, dtype=np.int64)
    succ[cycle] = np.roll(cycle, -1)
    tok, pos, nxt = np.arange(V), V + np.arange(ML), V + ML + np.arange(V)
    E = np.zeros((V, D))
    E[tok, tok] = 1.0
    E[tok, nxt] = 1.0
    P = np.zeros((ML, D))
    P[np.arange(ML), pos] = 1.0
    wq, wk, wv, wo = (np.zeros((D, D)) for _ in range(4))
    wq[np.arange(ML), pos] = 40.0
    wk[np.arange(ML), pos] = 1.0
    wv[tok, tok] = 1.0
    wo[nxt[succ], tok] = 4.0
    b = "blocks.0."
    zeros = np.zeros(D)
    state = {"tok_emb.weight": E, "pos_emb.weight": P, "lm_head.proj.weight": E,
             "ln_f.weight": np.ones(D), "ln_f.bias": zeros,
             b + "ln1.weight": np.ones(D), b + "ln1.bias": zeros,
             b + "ln2.weight": np.ones(D), b + "ln2.bias": zeros,
             b + "attn.q_proj.weight": wq, b + "attn.q_proj.bias": zeros,
             b + "attn.k_proj.weight": wk, b + "attn.k_proj.bias": zeros,
             b + "attn.v_proj.weight": wv, b + "attn.v_proj.bias": zeros,
             b + "attn.o_proj.weight": wo, b + "attn.o_proj.bias": zeros,
             b + "ffn.up.weight": np.zeros((d_ff, D)), b + "ffn.up.bias": np.zeros(d_ff),
             b + "ffn.down.weight": np.zeros((D, d_ff)), b + "ffn.down.bias": zeros}
    return init, state, succ


def _describe(init: dict) -> str:
    return "MiniGPT(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ")"


def _gpt(ctx, init: dict, state: dict[str, np.ndarray], dtype: str = "float64") -> Handle:
    """The student's MiniGPT (exercise `models`) with the given weights, kept in the worker."""
    ctx.last_input = _describe(init)
    h = ctx.new_from("models", "MiniGPT", **init)
    h.call_raw("to", {"$dtype": dtype})
    h.load_state_dict({k: v.astype(dtype) for k, v in state.items()})
    return h


def _keep(ctx, value) -> Handle:
    """Keep a request value (an iterator's list, a ShapeLog) in the worker as a handle:
    ``nn.Identity().forward`` returns its argument, which ``store`` keeps."""
    return ctx.new_from("torch", "nn.Identity").store("forward", value)


def _logits(model: Handle, ids: np.ndarray, V: int, dtype=np.float64) -> np.ndarray:
    return expect_array(model(ids), (*ids.shape, V), dtype, "model(ids) (your MiniGPT from `models`)")


def _close(ctx, got: np.ndarray, want: np.ndarray, message: str) -> None:
    """``ctx.close`` (tolerance by dtype) with a message that says what was compared with what."""
    try:
        ctx.close(got, want)
    except CheckFailed as cf:
        cf.failure.error = cf.failure.error or cf.failure.message
        cf.failure.message = message
        if got.shape == want.shape and got.size:  # where: names the mistake when the message repeats
            diff = np.abs(np.nan_to_num(got.astype(np.float64) - want.astype(np.float64), nan=np.inf))
            idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
            cf.failure.message = msg("close.largest", message=message, diff=float(diff[idx]),
                                     index=list(map(int, idx)))
        raise


def _ids(rng: np.random.Generator, V: int, B: int, L: int) -> np.ndarray:
    return rng.integers(0, V, size=(B, L)).astype(np.int64)


# --- forward_with_cache ----------------------------------------------------------------------------


def _fwc(ctx, model: Handle, ids: np.ndarray, cache, init: dict, dtype=np.float64,
         layout: bool = False) -> tuple[np.ndarray, list]:
    """Call forward_with_cache and check the form of its reply (with ``layout``, also the
    cache's shapes: elsewhere the cache only has to work with the submission itself)."""
    reply = ctx.call("forward_with_cache", model, ids, cache)
    if not isinstance(reply, (tuple, list)) or len(reply) != 2:
        fail("fwc.forward_cache_return", got=type(reply).__name__)
    logits, new_cache = reply
    B, T = ids.shape
    logits = expect_array(logits, (B, T, init["vocab_size"]), dtype, "logits")
    N = init["n_layers"]
    if not isinstance(new_cache, (list, tuple)) or len(new_cache) != N:
        fail("fwc.cache_list_one", N=N,
             got=type(new_cache).__name__ + (f" of {len(new_cache)}" if isinstance(new_cache, (list, tuple)) else ""))
    P = cache[0][0].shape[2] if cache and layout else 0
    H, dh = init["n_heads"], init["d_model"] // init["n_heads"]
    pairs = []
    for i, pair in enumerate(new_cache):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            fail("fwc.cache_i_pair", i=i, got=type(pair).__name__)
        k = expect_array(pair[0], None, dtype, f"cache[{i}][0] (k)")
        v = expect_array(pair[1], None, dtype, f"cache[{i}][1] (v)")
        for name, t in (("k", k), ("v", v)):
            if layout and t.shape != (B, H, P + T, dh):
                fail("fwc.cache_i_name", i=i, name=name, shape=list(t.shape), value=[B, H, P + T, dh], P=P, T=T,
                     expected=str([B, H, P + T, dh]), got=str(list(t.shape)))
        pairs.append((k, v))
    return logits, pairs


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _block0_kv(state: dict, init: dict, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block 0's keys and values for ids at positions 0..L-1, [B, H, L, dh], in numpy."""
    B, L = ids.shape
    H = init["n_heads"]
    x = state["tok_emb.weight"][ids] + state["pos_emb.weight"][:L]
    h = _layer_norm(x, state["blocks.0.ln1.weight"], state["blocks.0.ln1.bias"])
    out = []
    for name in ("k_proj", "v_proj"):
        y = h @ state[f"blocks.0.attn.{name}.weight"].T + state[f"blocks.0.attn.{name}.bias"]
        out.append(y.reshape(B, L, H, -1).transpose(0, 2, 1, 3))
    return out[0], out[1]


@checks.property("fwc_full",
                 "forward_with_cache without a cache gives the model's own logits at every position "
                 "(batch > 1, up to max_len; float64 and float32)", points=2,
                 uses=("forward_with_cache",),
                 zh="forward_with_cache 不带缓存时的 logits 与模型自己的前向传播在每个位置都一致（batch > 1，"
                    "长度可到 max_len）")
def _(ctx):
    rng = ctx.rng
    for length, dtype in (("short", "float64"), ("max_len", "float64"), ("short", "float32")):
        init = _init(rng)
        model = _gpt(ctx, init, _random_state(rng, init), dtype)
        B = int(rng.integers(2, 4))
        L = init["max_len"] if length == "max_len" else int(rng.integers(2, init["max_len"] - 1))
        ids = _ids(rng, init["vocab_size"], B, L)
        want = _logits(model, ids, init["vocab_size"], np.dtype(dtype))
        ctx.last_input = f"{_describe(init)} ({dtype}); forward_with_cache(model, ids [{B}, {L}], cache=None)"
        got, _ = _fwc(ctx, model, ids, None, init, np.dtype(dtype))
        _close(ctx, got, want, msg("fwc_full.logits_forward_cache"))


def _chunks(rng: np.random.Generator, P: int, max_len: int) -> list[int]:
    """Sizes of the calls after a prompt of P tokens: ones and twos up to max_len."""
    sizes, total = [], P
    while total < max_len:
        t = 1 if rng.random() < 0.6 or total + 2 > max_len else 2
        sizes.append(t)
        total += t
    return sizes


@checks.property("fwc_incremental",
                 "forward_with_cache with a cache: the logits of the new tokens equal the full forward at "
                 "their positions P..P+T-1, after several calls (prompts of several lengths, batch > 1)", points=4,
                 uses=("forward_with_cache",),
                 zh="forward_with_cache 带缓存时：多次调用之后，"
                    "新词的 logits 仍等于完整前向传播在位置 P..P+T-1 上的结果")
def _(ctx):
    rng = ctx.rng
    for P in (1, 3, None):
        init = _init(rng)
        V, ML = init["vocab_size"], init["max_len"]
        model = _gpt(ctx, init, _random_state(rng, init))
        P = P or ML - 3
        B = int(rng.integers(2, 4))
        ids = _ids(rng, V, B, ML)
        full = _logits(model, ids, V)
        sizes = _chunks(rng, P, ML)
        ctx.last_input = f"{_describe(init)}; prompt ids [{B}, {P}], then calls with {sizes} new tokens"
        logits, cache = _fwc(ctx, model, ids[:, :P], None, init)
        _close(ctx, logits, full[:, :P], msg("fwc_incremental.logits_prompt_cache"))
        start = P
        for k, T in enumerate(sizes):
            logits, cache = _fwc(ctx, model, ids[:, start:start + T], cache, init)
            _close(ctx, logits, full[:, start:start + T],
                   msg("fwc_incremental.call_value_logits", value=k + 2, T=T, start=start, value2=start + T - 1))
            start += T


@checks.property("fwc_cache",
                 "the cache holds one (k, v) per block, each [B, H, P+T, dh]: block 0's equal "
                 "split_heads(k_proj(ln1(x))), and several calls build the same cache as one call", points=2,
                 uses=("forward_with_cache",),
                 zh="缓存为每个块一对 (k, v)，形状 [B, H, P+T, dh]：第 0 块的 k、v 等于 split_heads(k_proj(ln1(x)))，"
                    "多次调用得到的缓存与一次调用相同")
def _(ctx):
    rng = ctx.rng
    for n_layers in (1, 2):
        init = _init(rng, n_layers=n_layers)
        V, ML = init["vocab_size"], init["max_len"]
        state = _random_state(rng, init)
        model = _gpt(ctx, init, state)
        B, P = 3, int(rng.integers(2, 4))
        ids = _ids(rng, V, B, ML - 1)
        ctx.last_input = f"{_describe(init)}; forward_with_cache(model, ids [{B}, {ML - 1}])"
        _, whole = _fwc(ctx, model, ids, None, init, layout=True)
        k0, v0 = _block0_kv(state, init, ids)
        for j, name in enumerate("kv"):
            _close(ctx, whole[0][j], (k0, v0)[j],
                   msg("fwc_cache.cache_0_name", name=name))
        sizes = _chunks(rng, P, ML - 1)
        ctx.last_input = f"{_describe(init)}; prompt ids [{B}, {P}], then calls with {sizes} new tokens"
        _, cache = _fwc(ctx, model, ids[:, :P], None, init, layout=True)
        start = P
        for T in sizes:
            _, cache = _fwc(ctx, model, ids[:, start:start + T], cache, init, layout=True)
            start += T
        for i in range(n_layers):
            for j, name in enumerate("kv"):
                _close(ctx, cache[i][j], whole[i][j],
                       msg("fwc_cache.cache_i_name", i=i, name=name, value=len(sizes) + 1))


@checks.behaviour("fwc_behaviour",
                  "forward_with_cache: P + T > max_len raises ValueError (with and without a cache); "
                  "P + T = max_len works; ids are not modified", points=1,
                  uses=("forward_with_cache",),
                  zh="forward_with_cache：P + T > max_len 时抛出 ValueError（有无缓存都一样）；"
                     "P + T = max_len 时正常；不修改 ids")
def _(ctx):
    rng = ctx.rng
    init = _init(rng, max_len=6, n_layers=2)
    V = init["vocab_size"]
    model = _gpt(ctx, init, _random_state(rng, init))
    ctx.last_input = f"{_describe(init)}; forward_with_cache(model, ids [2, 7], cache=None)"
    ctx.raises("ValueError", "forward_with_cache", model, _ids(rng, V, 2, 7), None)
    ctx.last_input = f"{_describe(init)}; forward_with_cache(model, ids [2, 4]) then 2 more tokens"
    _, cache = _fwc(ctx, model, _ids(rng, V, 2, 4), None, init)
    ids = _ids(rng, V, 2, 2)
    ctx.call_keep_inputs("forward_with_cache", model, ids, cache)
    ctx.last_input = f"{_describe(init)}; 4 tokens cached, then forward_with_cache(model, ids [2, 3], cache)"
    ctx.raises("ValueError", "forward_with_cache", model, _ids(rng, V, 2, 3), cache)
    _, cache = _fwc(ctx, model, ids, cache, init)
    ctx.last_input = f"{_describe(init)}; 6 = max_len tokens cached, then forward_with_cache(model, ids [2, 1], cache)"
    ctx.raises("ValueError", "forward_with_cache", model, _ids(rng, V, 2, 1), cache)


# --- top_p_filter --------------------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.where(np.isfinite(z), z, -np.inf)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _np_top_p(z: np.ndarray, top_p: float) -> np.ndarray:
    """transformers' rule, row by row (for the distributions of the sampling check)."""
    if top_p >= 1:
        return z
    out = z.copy()
    for row, r in zip(out, z):
        order = np.argsort(r, kind="stable")
        cum = np.cumsum(_softmax(r)[order])
        remove = cum <= 1 - top_p
        remove[-1] = False
        row[order[remove]] = -np.inf
    return out


def _top_p_margin(z: np.ndarray, top_p: float) -> float:
    """How far the cumulative probabilities stay from the cut 1 - top_p (float64)."""
    p = _softmax(z.astype(np.float64))
    cum = np.cumsum(np.sort(p, axis=-1), axis=-1)
    return float(np.abs(cum - (1 - top_p)).min())


def _top_p_case(rng: np.random.Generator, B: int, V: int, scale: float, dtype=np.float64,
                cut: int = 0) -> Case:
    """Tie-free logits (``cut`` entries per row already -inf, as after top-k) and a top_p whose
    cut stays 1e-4 away from every cumulative probability."""
    while True:
        z = normal(rng, (B, V), scale=scale).astype(dtype)
        if cut:
            for b in range(B):
                z[b, rng.choice(V, size=cut, replace=False)] = -np.inf
        top_p = float(np.round(rng.uniform(0.1, 0.95), 3))
        if _top_p_margin(z, top_p) > 1e-4 and len({float(v) for v in z[np.isfinite(z)]}) == np.isfinite(z).sum():
            return Case(args=(z, top_p))


@checks.compare("top_p_reference", "top_p_filter matches the reference (tie-free logits, some -inf "
                "entries, float64 and float32)", points=3, fn="top_p_filter",
                backward=False,  # a filter that shapes the sampling distribution owes no gradient
                zh="top_p_filter 与参考一致（无并列的 logits，部分为 -inf，float64 与 float32）")
def _(rng):
    yield Case(args=(np.array([[2.0, 1.0, 0.5, -1.0, 0.1]]), 0.8), label=msg("top_p_reference.case_one_row"))
    yield _top_p_case(rng, 3, 7, 1.5)
    yield _top_p_case(rng, 4, 9, 3.0, cut=3)
    yield _top_p_case(rng, 2, 11, 0.7)
    yield _top_p_case(rng, 3, 6, 2.0, dtype=np.float32)
    yield Case(args=(normal(rng, (2, 8), scale=2.0), 1.0), label=msg("top_p_reference.case_top_p_1"))


@checks.property("top_p_properties",
                 "top_p_filter keeps the most probable tokens, unchanged, whose probability adds up to "
                 "at least top_p, and no more than it needs (hypothesis, drawn logits)", points=2,
                 uses=("top_p_filter",),
                 zh="top_p_filter 保留概率最大的若干词（数值不变），它们的概率之和至少为 top_p，且不多保留（"
                    "hypothesis 随机输入）")
def _(ctx):
    from hypothesis import strategies as st

    @ctx.given(arrays(st.tuples(st.integers(1, 3), st.integers(2, 9)), lo=-8, hi=8),
               st.floats(0.01, 1.0))
    def prop(z, top_p):
        out = expect_array(ctx.call("top_p_filter", z, top_p), z.shape, np.float64, "top_p_filter")
        kept = np.isfinite(out)
        if not np.array_equal(out[kept], z[kept]) or not np.all(out[~kept] == -np.inf):
            fail("top_p_properties.kept_logits_returned")
        p = _softmax(z)
        for b in range(z.shape[0]):
            k = kept[b]
            if not k.any() or z[b][k].max() < z[b].max():
                fail("top_p_properties.row_b_most", b=b)
            if k.sum() < k.size and z[b][k].min() < z[b][~k].max():
                fail("top_p_properties.row_b_removed", b=b)
            mass = float(p[b][k].sum())
            if mass < top_p - 1e-9:
                fail("top_p_properties.row_b_kept", b=b, mass=mass, top_p=top_p,
                     expected=f">= {top_p}", got=f"{mass:.6f} with {int(k.sum())} tokens kept")
            if top_p < 1 and k.sum() > 1 and mass - float(p[b][k].min()) >= top_p + 1e-9:
                fail("top_p_properties.row_b_kept_2", b=b, top_p=top_p,
                     got=f"{int(k.sum())} tokens kept, probability {mass:.6f}")

    prop()


@checks.behaviour("top_p_behaviour",
                  "top_p_filter: top_p = 1 keeps every token; a tiny top_p keeps only the most probable; "
                  "ValueError outside (0, 1]; input not modified, dtype kept", points=1,
                  uses=("top_p_filter",),
                  zh="top_p_filter：top_p = 1 时保留所有词；极小的 top_p 只保留概率最大的词；"
                     "top_p 不在 (0, 1] 内时抛出 ValueError；"
                     "不修改输入，保持 dtype")
def _(ctx):
    z = np.array([[3.0, -800.0, 0.5, 2.0, -1.0], [0.0, 1.0, -2.0, 40.0, 0.3]])
    ctx.last_input = "top_p_filter(logits [2, 5] with logits -800 and 40, top_p=1.0)"
    out = expect_array(ctx.call_keep_inputs("top_p_filter", z, 1.0), z.shape, np.float64, "top_p_filter")
    if not np.array_equal(out, z):
        fail("top_p_behaviour.top_p_1",
             expected=np.array2string(z), got=np.array2string(out))
    ctx.last_input = "top_p_filter(logits [2, 5], top_p=1e-9)"
    out = expect_array(ctx.call_keep_inputs("top_p_filter", z, 1e-9), z.shape, np.float64, "top_p_filter")
    want = np.where(z == z.max(-1, keepdims=True), z, -np.inf)
    if not np.array_equal(out, want):
        fail("top_p_behaviour.tiny_top_p",
             expected=np.array2string(want), got=np.array2string(out))
    z32 = z.astype(np.float32)
    ctx.last_input = "top_p_filter(float32 logits [2, 5], top_p=0.5)"
    expect_array(ctx.call_keep_inputs("top_p_filter", z32, 0.5), z.shape, np.float32, "top_p_filter")
    for bad in (0.0, -0.5, 1.5):
        ctx.last_input = f"top_p_filter(logits [2, 5], top_p={bad})"
        ctx.raises("ValueError", "top_p_filter", z, bad)


# --- repetition_penalty ------------------------------------------------------------------------------


def _np_penalty(z: np.ndarray, ids: np.ndarray, penalty: float) -> np.ndarray:
    out = z.copy()
    for b in range(z.shape[0]):
        seen = np.unique(ids[b])
        s = z[b, seen]
        out[b, seen] = np.where(s > 0, s / penalty, s * penalty)
    return out


@checks.compare("repetition_penalty_reference",
                "repetition_penalty matches the reference (positive and negative logits, repeated ids, "
                "penalties above and below 1)", points=2, fn="repetition_penalty",
                backward=False,  # values only: the reference's scatter counts a repeated id's gradient per occurrence
                zh="repetition_penalty 与参考一致（正负 logits、重复出现的 id、大于和小于 1 的惩罚系数）")
def _(rng):
    yield Case(args=(np.array([[2.0, -1.0, 0.5, -0.25]]), np.array([[0, 1]]), 2.0),
               label=msg("repetition_penalty_reference.case_one_row"))
    for B, V, L, penalty in ((3, 7, 5, 1.3), (2, 10, 8, 2.0), (4, 6, 3, 0.7)):
        yield Case(args=(normal(rng, (B, V), scale=2.0), _ids(rng, V, B, L), penalty))
    z = normal(rng, (3, 8), scale=2.0).astype(np.float32)
    yield Case(args=(z, _ids(rng, 8, 3, 6), 1.5))
    yield Case(args=(normal(rng, (2, 5)), np.zeros((2, 0), dtype=np.int64), 1.8),
               label=msg("repetition_penalty_reference.case_no_ids"))


@checks.behaviour("repetition_penalty_behaviour",
                  "repetition_penalty: a token penalised once however often it occurs; rows use their own "
                  "ids; penalty 1 changes nothing; ValueError for penalty <= 0; input not modified", points=1,
                  uses=("repetition_penalty",),
                  zh="repetition_penalty：一个词无论出现几次只惩罚一次；每行只看自己的 ids；penalty = 1 不改变任何值；"
                     "penalty <= 0 时抛出 ValueError；不修改输入")
def _(ctx):
    z = np.array([[3.0, -2.0, 0.5, 1.0], [1.0, 2.0, -0.5, 4.0]])
    ids = np.array([[0, 0, 0, 1, 1], [3, 3, 2, 2, 2]])
    want = np.array([[1.5, -4.0, 0.5, 1.0], [1.0, 2.0, -1.0, 2.0]])
    ctx.last_input = "repetition_penalty(logits [2, 4], ids [[0, 0, 0, 1, 1], [3, 3, 2, 2, 2]], penalty=2.0)"
    got = expect_array(ctx.call_keep_inputs("repetition_penalty", z, ids, 2.0), z.shape, np.float64,
                       "repetition_penalty")
    if not np.allclose(got, want, rtol=1e-12, atol=1e-12):
        fail("repetition_penalty_behaviour.each_token_present",
             expected=np.array2string(want), got=np.array2string(got))
    ctx.last_input = "repetition_penalty(logits [2, 4], ids [2, 5], penalty=1.0)"
    got = expect_array(ctx.call("repetition_penalty", z, ids, 1.0), z.shape, np.float64, "repetition_penalty")
    if not np.array_equal(got, z):
        fail("repetition_penalty_behaviour.penalty_1_0", got=np.array2string(got))
    for bad in (0.0, -1.5):
        ctx.last_input = f"repetition_penalty(logits [2, 4], ids [2, 5], penalty={bad})"
        ctx.raises("ValueError", "repetition_penalty", z, ids, bad)


# --- generate_cached: greedy -----------------------------------------------------------------------


def _generate(ctx, model: Handle, ids: np.ndarray, n: int, **kwargs) -> np.ndarray:
    out = ctx.call("generate_cached", model, ids, n, **kwargs)
    out = expect_array(out, None, None, "generate_cached output")
    if out.dtype.kind not in "iu" or out.ndim != 2 or out.shape[0] != ids.shape[0]:
        fail("generate.generate_cached_return", dtype=out.dtype, shape=list(out.shape))
    if out.shape[1] < ids.shape[1] or not np.array_equal(out[:, :ids.shape[1]], ids):
        fail("generate.output_start_prompt")
    return out


def _check_greedy(ctx, model: Handle, out: np.ndarray, L0: int, V: int, penalty: float = 1.0,
                  what: str = "the greedy choice") -> None:
    """Every new token is the argmax of the model's own (penalised) logits for the sequence so
    far; the logits come from one full forward over the output (position t sees tokens <= t)."""
    L = out.shape[1]
    if L == L0:
        return
    logits = _logits(model, out[:, :L - 1], V)
    for t in range(L0 - 1, L - 1):
        z = logits[:, t]
        if penalty != 1.0:
            z = _np_penalty(z, out[:, :t + 1], penalty)
        best = z.max(-1)
        chosen = np.take_along_axis(z, out[:, t + 1:t + 2], -1)[:, 0]
        bad = chosen < best - TIE * np.maximum(1.0, np.abs(best))
        if bad.any():
            b = int(np.argmax(bad))
            fail("check_greedy.row_b_new", b=b, value=t + 1 - L0, value2=t + 1, what=what,
                 value3=msg("check_greedy.penalised") if penalty != 1.0 else "", z=int(np.argmax(z[b])),
                 out=int(out[b, t + 1]),
                 expected=f"token {int(np.argmax(z[b]))} (logit {best[b]:.4f})",
                 got=f"token {int(out[b, t + 1])} (logit {chosen[b]:.4f})")


@checks.property("generate_greedy",
                 "generate_cached at temperature 0 equals model.generate (the argmax of the model's own "
                 "logits at every step), also up to max_len and with top_k / top_p given", points=3,
                 uses=("generate_cached", "forward_with_cache"),
                 zh="温度为 0 时 generate_cached 与 model.generate 一致（每一步都是模型自己 logits 的 argmax），"
                    "生成到 max_len 或给出 top_k / top_p 时也一样")
def _(ctx):
    rng = ctx.rng
    for L0, to_limit in ((1, False), (3, True), (2, False)):
        init = _init(rng)
        V, ML = init["vocab_size"], init["max_len"]
        model = _gpt(ctx, init, _random_state(rng, init))
        B = 3
        n = ML - L0 if to_limit else int(rng.integers(3, ML - L0))
        ids = _ids(rng, V, B, L0)
        ctx.last_input = f"{_describe(init)}; generate_cached(model, ids [{B}, {L0}], max_new_tokens={n})"
        out = _generate(ctx, model, ids, n)
        if out.shape != (B, L0 + n):
            fail("generate_greedy.output_shape_shape", shape=list(out.shape), value=[B, L0 + n], n=n)
        _check_greedy(ctx, model, out, L0, V, what="the greedy choice (what model.generate picks)")
    ctx.last_input += ", temperature=0, top_k=2, top_p=0.5"
    filtered = _generate(ctx, model, ids, n, temperature=0.0, top_k=2, top_p=0.5)
    if not np.array_equal(filtered, out):
        fail("generate_greedy.temperature_0_result",
             expected=np.array2string(out[0]), got=np.array2string(filtered[0]))


@checks.property("generate_one_forward_per_token",
                 "generate_cached runs the blocks once over the prompt, then on ONE new position per row "
                 "per step (forward hooks count the positions every k_proj and v_proj sees)", points=3,
                 uses=("generate_cached", "forward_with_cache"),
                 zh="generate_cached 先对提示做一次前向传播，之后每一步每行只送入一个新位置（用 forward hook 统计每个 "
                    "k_proj、v_proj 处理的位置数）")
def _(ctx):
    rng = ctx.rng
    for L0, kwargs in ((3, {}), (2, {"temperature": 1.0, "top_k": 4, "generator": generator(7)})):
        init = _init(rng, max_len=10, n_layers=2)
        V, B, n = init["vocab_size"], 3, 6
        model = _gpt(ctx, init, _random_state(rng, init))
        logs = {}
        for i in range(init["n_layers"]):
            for name in ("k_proj", "v_proj"):
                where = f"blocks.{i}.attn.{name}"
                logs[where] = _keep(ctx, {"$shape_log": None})
                model.call_raw(f"{where}.register_forward_pre_hook", logs[where])
        ids = _ids(rng, V, B, L0)
        args = "".join(f", {k}={v if k != 'generator' else 'torch.Generator(seed 7)'}" for k, v in kwargs.items())
        ctx.last_input = f"{_describe(init)}; generate_cached(model, ids [{B}, {L0}], max_new_tokens={n}{args})"
        out = _generate(ctx, model, ids, n, **kwargs)
        if out.shape != (B, L0 + n):
            fail("generate_one_forward_per_token.output_shape_shape", shape=list(out.shape), value=[B, L0 + n])
        for where, log in logs.items():
            calls = log.get("calls")
            rows = [math.prod(c[0][:-1]) if c else 0 for c in calls]
            per_call = ", ".join(str(r) for r in rows[:8]) + (", …" if len(rows) > 8 else "")
            want = [B * L0] + [B] * (n - 1)
            if rows[:1] != [B * L0] or any(r != B for r in rows[1:]) or len(rows) not in (n, n + 1):
                if not rows:
                    fail("generate_one_forward_per_token.where_never_ran", where=where)
                fail("generate_one_forward_per_token.where_ran_per", where=where, per_call=per_call, rows=len(rows),
                     B=B, L0=L0, n=n,
                     expected=", ".join(map(str, want)), got=per_call)


# --- generate_cached: penalty, eos ---------------------------------------------------------------------

# Logit vectors and prompts on which a misplaced penalty changes the greedy continuation
# (prompt only, generated tokens only, once per occurrence, dividing negative logits).
PENALTY_CASES = (
    (np.array([0.55, 1.78, 1.19, -0.63, -0.2, 1.88, 1.68, 0.36]), [1, 3, 6], 1.3),
    (np.array([-2.03, -1.62, -2.24, -2.59, -2.76, -1.44, -4.75, -2.64]), [6, 3, 0], 2.0),
)


@checks.property("generate_repetition_penalty",
                 "generate_cached with repetition_penalty at temperature 0: every new token is the argmax "
                 "of the logits penalised for every token of the sequence so far (prompt and generated)", points=2,
                 uses=("generate_cached", "repetition_penalty"),
                 zh="温度为 0 且有 repetition_penalty 时：每个新词都是按目前整个序列（"
                    "提示和已生成的词）惩罚之后 logits 的 argmax")
def _(ctx):
    rng = ctx.rng
    for target, prompt, penalty in PENALTY_CASES:
        init, state = _constant_state(rng, target, max_len=10)
        model = _gpt(ctx, init, state)
        ids = np.array([prompt, prompt[::-1]], dtype=np.int64)
        ctx.last_input = (f"{_describe(init)} whose logits are {np.array2string(target, precision=2, separator=', ')} "
                          f"at every position; generate_cached(model, ids {ids.tolist()}, max_new_tokens=6, "
                          f"repetition_penalty={penalty})")
        out = _generate(ctx, model, ids, 6, repetition_penalty=penalty)
        if out.shape != (2, 9):
            fail("generate_repetition_penalty.output_shape_shape", shape=list(out.shape))
        _check_greedy(ctx, model, out, 3, target.size, penalty, "the argmax of the penalised logits")
    init = _init(rng)
    model = _gpt(ctx, init, _random_state(rng, init))
    ids = _ids(rng, init["vocab_size"], 3, 2)
    n = init["max_len"] - 2
    ctx.last_input = (f"{_describe(init)}; generate_cached(model, ids [3, 2], max_new_tokens={n}, "
                      "repetition_penalty=1.5)")
    out = _generate(ctx, model, ids, n, repetition_penalty=1.5)
    _check_greedy(ctx, model, out, 2, init["vocab_size"], 1.5, "the argmax of the penalised logits")


def _expected_eos(succ: np.ndarray, ids: np.ndarray, n: int, eos: int) -> np.ndarray:
    """What generation with eos_id gives on the successor model (greedy next = succ[token])."""
    B, L0 = ids.shape
    out = np.full((B, L0 + n), eos, dtype=np.int64)
    out[:, :L0] = ids
    steps = 0
    for b in range(B):
        tok = ids[b, -1]
        for s in range(n):
            tok = succ[tok]
            out[b, L0 + s] = tok
            if tok == eos:
                steps = max(steps, s + 1)
                break
        else:
            steps = n
    return out[:, :L0 + steps]


@checks.property("generate_eos",
                 "generate_cached with eos_id: a row that produced eos_id after the prompt continues with "
                 "eos_id; generation stops once every row has (fewer than max_new_tokens tokens)", points=2,
                 uses=("generate_cached",),
                 zh="给出 eos_id 时：在提示之后生成了 eos_id 的行之后只填 eos_id；所有行都结束后立即停止（"
                    "可能少于 max_new_tokens 个词）")
def _(ctx):
    rng = ctx.rng
    init, state, succ = _successor_state(rng)
    model = _gpt(ctx, init, state)
    V = init["vocab_size"]
    # rows at distances 1, 3, 5 from eos along the cycle; row 0's prompt holds eos itself
    eos = int(rng.integers(V))
    before = [eos]
    for _ in range(V - 1):
        before.append(int(np.flatnonzero(succ == before[-1])[0]))  # before[d]: d steps from eos
    for dists, n in (((1, 3, 5), 7), ((2, 6, 4), 5)):
        ids = np.array([[eos, before[dists[0]]], [int(rng.integers(V)), before[dists[1]]],
                        [int(rng.integers(V)), before[dists[2]]]], dtype=np.int64)
        want = _expected_eos(succ, ids, n, eos)
        ctx.last_input = (f"{_describe(init)} whose greedy next token follows a fixed cycle; "
                          f"generate_cached(model, ids {ids.tolist()}, max_new_tokens={n}, eos_id={eos})")
        out = _generate(ctx, model, ids, n, eos_id=eos)
        if out.shape[1] > want.shape[1] and np.array_equal(out[:, :want.shape[1]], want):
            fail("generate_eos.generation_went_after", eos=eos, value=want.shape[1] - 2, value2=out.shape[1] - 2,
                 expected=np.array2string(want), got=np.array2string(out))
        if out.shape != want.shape or not np.array_equal(out, want):
            fail("generate_eos.eos_id_eos", eos=eos, n=n,
                 expected=np.array2string(want), got=np.array2string(out))


# --- generate_cached: sampling ---------------------------------------------------------------------------

SAMPLING_ROW = np.array([2.2, 1.9, 1.6, 1.2, 0.8, -0.4, -1.0, -0.3])
SAMPLING_PROMPT = [0, 0, 6, 3]
SAMPLING_SETTINGS = ({"temperature": 1.0, "top_k": 5, "top_p": 0.5, "repetition_penalty": 1.3},
                     {"temperature": 1.3, "top_k": None, "top_p": 0.5, "repetition_penalty": 2.0},
                     {"temperature": 0.8, "top_k": 5, "top_p": 0.6, "repetition_penalty": 1.6})


def _pipeline(z: np.ndarray, prompt: np.ndarray, temperature: float, top_k: int | None,
              top_p: float | None, repetition_penalty: float) -> np.ndarray:
    """The distribution of the next token: penalty, temperature, top-k, top-p, softmax."""
    z = _np_penalty(z[None], prompt[None], repetition_penalty) / temperature
    if top_k is not None and top_k < z.shape[-1]:
        z = np.where(z < np.sort(z, -1)[:, -top_k:][:, :1], -np.inf, z)
    if top_p is not None:
        z = _np_top_p(z, top_p)
    return _softmax(z)[0]


def _bound(p: np.ndarray, n: int) -> np.ndarray:
    """Bernstein: P(|freq - p| >= t) <= 2 exp(-n t² / (2 p(1-p) + 2t/3)) = DELTA."""
    log_term = math.log(2 / DELTA)
    var = p * (1 - p)
    return (2 * log_term / 3 + np.sqrt((2 * log_term / 3) ** 2 + 8 * n * log_term * var)) / (2 * n)


@checks.statistical("generate_sampling_statistics",
                    f"generate_cached samples from softmax(top_p(top_k(penalised logits / temperature))) "
                    f"({N_DRAWS} draws per setting, fixed seeds, honest failure rate < 1e-7)", points=3,
                    uses=("generate_cached", "top_p_filter", "repetition_penalty"), timeout=60,
                    zh="generate_cached 从 softmax(top_p(top_k(惩罚后的 logits / 温度))) 中采样（统计检验）")
def _(ctx):
    rng = ctx.rng
    init, state = _constant_state(rng, SAMPLING_ROW, max_len=8)
    model = _gpt(ctx, init, state)
    prompt = np.array(SAMPLING_PROMPT, dtype=np.int64)
    z = _logits(model, prompt[None], SAMPLING_ROW.size)[0, -1]
    ids = np.broadcast_to(prompt, (N_DRAWS, prompt.size)).copy()
    for i, setting in enumerate(SAMPLING_SETTINGS):
        p = _pipeline(z, prompt, **setting)
        args = ", ".join(f"{k}={v}" for k, v in setting.items())
        ctx.last_input = (f"{_describe(init)} whose logits are {np.array2string(SAMPLING_ROW, separator=', ')} "
                          f"everywhere; generate_cached(model, {N_DRAWS} copies of the prompt {SAMPLING_PROMPT}, "
                          f"max_new_tokens=1, {args}, generator seed {301 + i})")
        out = _generate(ctx, model, ids, 1, generator=generator(301 + i), **setting)
        if out.shape != (N_DRAWS, prompt.size + 1):
            fail("generate_one_forward_per_token.output_shape_shape", shape=list(out.shape),
                 value=[N_DRAWS, prompt.size + 1])
        drawn = out[:, -1]
        if drawn.min() < 0 or drawn.max() >= p.size:
            fail("generate_sampling_statistics.sampled_token_ids", size=p.size)
        freq = np.bincount(drawn, minlength=p.size) / N_DRAWS
        if np.any(freq[p == 0] > 0):
            j = int(np.flatnonzero((p == 0) & (freq > 0))[0])
            fail("generate_sampling_statistics.args_token_j", args=args, j=j,
                 expected=np.array2string(p, precision=3, separator=", "),
                 got=np.array2string(freq, precision=3, separator=", "))
        if np.any(np.abs(freq - p) > _bound(p, N_DRAWS)):
            fail("generate_sampling_statistics.args_token_frequencies", args=args,
                 expected=np.array2string(p, precision=3, separator=", "),
                 got=np.array2string(freq, precision=3, separator=", "))


@checks.statistical("generate_generator",
                    "generate_cached draws with the generator it is given: the same seed repeats the draws, "
                    "another seed changes them", points=1,
                    uses=("generate_cached",),
                    zh="generate_cached 用传入的 generator 采样：相同的种子得到相同的结果，不同的种子得到不同的结果")
def _(ctx):
    rng = ctx.rng
    init, state = _constant_state(rng, np.linspace(0.0, 0.7, 8), max_len=8)
    model = _gpt(ctx, init, state)
    ids = _ids(rng, 8, 64, 2)
    ctx.last_input = (f"{_describe(init)} with nearly flat logits; generate_cached(model, ids [64, 2], "
                      "max_new_tokens=4, temperature=1.0, generator=torch.Generator(seed s)) for s = 11, 11, 12")
    a = _generate(ctx, model, ids, 4, temperature=1.0, generator=generator(11))
    b = _generate(ctx, model, ids, 4, temperature=1.0, generator=generator(11))
    c = _generate(ctx, model, ids, 4, temperature=1.0, generator=generator(12))
    if not np.array_equal(a, b):
        fail("generate_generator.two_runs_generators")
    if np.array_equal(a, c):  # 256 draws from 8 nearly equal tokens: the same by chance ~ 8^-256
        fail("generate_generator.generators_different_seeds")


@checks.behaviour("generate_behaviour",
                  "generate_cached: L0 + max_new_tokens > max_len raises ValueError before any work (even "
                  "when eos_id would stop earlier); max_new_tokens = 0 returns the prompt; ids not modified", points=1,
                  uses=("generate_cached",),
                  zh="generate_cached：L0 + max_new_tokens > max_len 时立即抛出 ValueError（即使 eos_id 会提前结束）；"
                     "max_new_tokens = 0 时返回提示本身；不修改 ids")
def _(ctx):
    rng = ctx.rng
    target = np.array([0.0, 3.0, 0.5, -1.0, 1.0, 0.2])  # greedy always picks token 1
    init, state = _constant_state(rng, target, max_len=6)
    model = _gpt(ctx, init, state)
    ids = np.array([[0, 2, 3], [4, 4, 5]], dtype=np.int64)
    ctx.last_input = f"{_describe(init)}; generate_cached(model, ids [2, 3], max_new_tokens=4, eos_id=1)"
    ctx.raises("ValueError", "generate_cached", model, ids, 4, eos_id=1)
    ctx.last_input = f"{_describe(init)}; generate_cached(model, ids [2, 3], max_new_tokens=0)"
    out = expect_array(ctx.call_keep_inputs("generate_cached", model, ids, 0), None, None, "generate_cached output")
    if out.shape != ids.shape or not np.array_equal(out, ids):
        fail("generate_behaviour.max_new_tokens", expected=str(ids.tolist()),
             got=str(out.tolist()))
    ctx.last_input = f"{_describe(init)}; generate_cached(model, ids [2, 3], max_new_tokens=3, repetition_penalty=1.2)"
    ctx.call_keep_inputs("generate_cached", model, ids, 3, repetition_penalty=1.2)


# --- stream_decode ------------------------------------------------------------------------------------

TEXTS = ("北京在北纬39度。", "你好，世界！Hello 🤗", "自回归生成：每次生成下一个词", "café 语言模型 😀👍",
         "我是大学生，考试没有一次参加")


def _tokens(rng: np.random.Generator, text: str) -> tuple[list[int], dict[int, bytes]]:
    """Cut the text's UTF-8 bytes at random offsets (pieces of 1-5 bytes, so most Chinese
    characters are split); single bytes are ids 0..255, longer pieces get ids from 256 on."""
    data = text.encode("utf-8")
    vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
    index: dict[bytes, int] = {}
    ids, pos = [], 0
    while pos < len(data):
        piece = data[pos:pos + int(rng.integers(1, 6))]
        pos += len(piece)
        if len(piece) == 1:
            ids.append(piece[0])
            continue
        if piece not in index:
            index[piece] = 256 + len(index)
            vocab[index[piece]] = piece
        ids.append(index[piece])
    return ids, vocab


def _vocab_value(vocab: dict[int, bytes]) -> dict:
    return {int(i): bytes(b) for i, b in vocab.items()}  # the wire carries bytes and int keys as they are


def _complete(data: bytes) -> str:
    """The text of the longest prefix of data that is whole UTF-8 characters."""
    for cut in range(len(data), max(-1, len(data) - 4), -1):
        try:
            return data[:cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def _drain(ctx, ids, vocab: dict[int, bytes], it: Handle | None = None) -> list[tuple[str, int]]:
    """Run stream_decode in the worker piece by piece: (piece, ids read so far) per piece."""
    gen = ctx.store("stream_decode", it if it is not None else ids, _vocab_value(vocab))
    pieces: list[tuple[str, int]] = []
    while True:
        try:
            piece = gen.call_raw("__next__")
        except StudentError as err:
            if err.not_implemented:
                raise
            if err.type == "StopIteration":
                return pieces
            if err.type in ("AttributeError", "TypeError") and "__next__" in err.message:
                fail("drain.stream_decode_return", frames=err.frames)
            raise
        if not isinstance(piece, str):
            got = piece.get("$unsendable", "") if isinstance(piece, dict) else type(piece).__name__
            fail("drain.stream_decode_yielded", value=got or type(piece).__name__)
        read = len(ids) - int(it.call("__length_hint__")) if it is not None else -1
        pieces.append((piece, read))
        if len(pieces) > 4 * len(ids) + 8:
            fail("drain.stream_decode_yielded_2", value=4 * len(ids) + 8, ids=len(ids))


@checks.property("stream_decode_text",
                 "stream_decode: the pieces joined equal the text (Chinese characters and emoji split "
                 "across tokens), and every piece is whole characters", points=2,
                 uses=("stream_decode",),
                 zh="stream_decode：各段拼接后等于原文（汉字与表情被拆在不同的 token 中），每一段都是完整的字符")
def _(ctx):
    rng = ctx.rng
    for text in TEXTS:
        ids, vocab = _tokens(rng, text)
        ctx.last_input = f"stream_decode(ids of {text!r} cut into {len(ids)} tokens at random byte offsets, vocab)"
        pieces = [p for p, _ in _drain(ctx, ids, vocab)]
        joined = "".join(pieces)
        broken = [p for p in pieces if "\ufffd" in p]
        if broken:
            fail("stream_decode_text.piece_holds_replacement", expected=repr(text), got=repr(pieces[:8]))
        if joined != text:
            fail("stream_decode_text.pieces_joined_differ", expected=repr(text), got=repr(joined))


@checks.property("stream_decode_streaming",
                 "stream_decode streams: with a one-pass iterator of ids, everything the ids read so far "
                 "can decode is yielded before the next id is read", points=2,
                 uses=("stream_decode",),
                 zh="stream_decode 是流式的：读入下一个 id 之前，已经输出目前读到的 id 能解码出的全部文字")
def _(ctx):
    rng = ctx.rng
    for text in TEXTS[:3]:
        ids, vocab = _tokens(rng, text)
        data = [vocab[i] for i in ids]
        it = _keep(ctx, ids).store("__iter__")
        ctx.last_input = (f"stream_decode(iter(ids of {text!r} cut into {len(ids)} tokens), vocab), "
                          "read piece by piece")
        pieces = _drain(ctx, ids, vocab, it)
        if "".join(p for p, _ in pieces) != text:
            fail("stream_decode_text.pieces_joined_differ", expected=repr(text),
                 got=repr("".join(p for p, _ in pieces)))
        for c in range(len(ids)):
            # the text yielded before id c+1 was read: the pieces yielded with at most c ids read
            so_far = "".join(p for p, read in pieces if read <= c)
            want = _complete(b"".join(data[:c]))
            if so_far != want and pieces[0][1] == len(ids):
                fail("stream_decode_streaming.stream_decode_read", ids=len(ids))
            if so_far != want:
                fail("stream_decode_streaming.after_reading_c", c=c, ids=len(ids), so_far=so_far, want=want,
                     expected=repr(want), got=repr(so_far))

