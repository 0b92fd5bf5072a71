"""Checks for `models`: MiniBERT (encode, forward), MiniGPT (forward, generate) and the
export to Hugging Face GPT-2 names.

Module checks load the reference's weights into the student's model (strict state_dict, so
the submodule names of the contract must hold) and compare logits, hidden states and every
parameter gradient (the tied weight under both names, tok_emb.weight and lm_head's, the
same gradient: whichever the model registers first). Sizes keep B != L != D, several
heads, L up to max_len. Properties need no reference and run the same in local mode:
- padding invariance of MiniBERT and causality of MiniGPT use the student's own weights;
- generate is checked against the student's own forward and sample_next_token: greedy on a
  hand-built model that copies the first token of its context (a random GPT's greedy
  continuation soon repeats one token, which would hide a wrong context window), and
  sampling draw for draw with a seeded generator on random weights drawn here;
- the GPT-2 export is compared with the mapping computed here in numpy from weights drawn
  here: the names and layouts are the contract.
Tolerances: F64 / F32 (grader/checks.py).
"""

from __future__ import annotations

import numpy as np

from grader.checks import Case, Checks, Handle, expect_array, fail, plain, to_wire
from grader.host.pool import StudentError
from grader.strategies import normal

checks = Checks("models")


def _init(rng: np.random.Generator, d_ff: bool = True) -> dict:
    """Constructor arguments with D = H * dh, V != D, a few layers, d_ff != 4·D when given."""
    H, dh = (int(v) for v in rng.choice([2, 3, 4], size=2, replace=False))
    init = {"vocab_size": int(rng.integers(9, 16)), "max_len": int(rng.integers(6, 9)),
            "d_model": H * dh, "n_heads": H, "n_layers": int(rng.integers(1, 3))}
    if d_ff:
        init["d_ff"] = int(rng.integers(5, 11))
    return init


def _ids(rng: np.random.Generator, V: int, B: int, L: int) -> np.ndarray:
    return rng.integers(0, V, size=(B, L)).astype(np.int64)


def _batch(rng: np.random.Generator, max_len: int) -> tuple[int, int]:
    B = int(rng.integers(1, 4))
    L = int(rng.choice([v for v in range(2, max_len + 1) if v != B]))
    return B, L


def _padding(rng: np.random.Generator, B: int, L: int) -> np.ndarray:
    """Right padding, every row keeps at least one real token; row 0 is the longest."""
    lengths = rng.integers(1, L + 1, size=B)
    lengths[0] = L
    return np.arange(L)[None, :] < lengths[:, None]


def _raises(ctx, h: Handle, method: str, *args, what: str = "") -> None:
    """Fail unless ``h.method(*args)`` raises ValueError (NotImplementedError propagates)."""
    try:
        h.call_raw(method, *args)
    except StudentError as err:
        if err.not_implemented:
            raise
        if not err.is_a("ValueError"):
            fail("raises.what_raised_type", what=what, type=err.type, message_=err.message[:100],
                 frames=err.frames)
        return
    fail("raises.what_accepted_expected", what=what)


def _block_params(prefix: str, D: int, d_ff: int, order: tuple[str, ...]) -> dict[str, tuple]:
    shapes = {}
    for part in order:
        if part == "attn":
            for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
                shapes[f"{prefix}attn.{p}.weight"] = (D, D)
                shapes[f"{prefix}attn.{p}.bias"] = (D,)
        elif part == "ffn":
            shapes[f"{prefix}ffn.up.weight"] = (d_ff, D)
            shapes[f"{prefix}ffn.up.bias"] = (d_ff,)
            shapes[f"{prefix}ffn.down.weight"] = (D, d_ff)
            shapes[f"{prefix}ffn.down.bias"] = (D,)
        else:
            shapes[f"{prefix}{part}.weight"] = (D,)
            shapes[f"{prefix}{part}.bias"] = (D,)
    return shapes


def _gpt_state(rng: np.random.Generator, init: dict) -> dict[str, np.ndarray]:
    """Random MiniGPT weights under the contract's names (head tied: the same values)."""
    V, ML, D, N = init["vocab_size"], init["max_len"], init["d_model"], init["n_layers"]
    d_ff = init.get("d_ff") or 4 * D
    state = {"tok_emb.weight": normal(rng, (V, D)), "pos_emb.weight": normal(rng, (ML, D))}
    for i in range(N):
        for name, shape in _block_params(f"blocks.{i}.", D, d_ff, ("ln1", "attn", "ln2", "ffn")).items():
            scale = 2.0 / np.sqrt(shape[1]) if len(shape) == 2 else 1.0
            state[name] = normal(rng, shape, scale=scale) + (1.0 if name.endswith("ln1.weight")
                                                              or name.endswith("ln2.weight") else 0.0)
    state["ln_f.weight"] = normal(rng, (D,)) + 1.0
    state["ln_f.bias"] = normal(rng, (D,))
    state["lm_head.proj.weight"] = state["tok_emb.weight"]
    return state


def _copy_first_gpt(rng: np.random.Generator) -> tuple[dict, dict[str, np.ndarray]]:
    """A one-layer MiniGPT whose greedy next token is perm[the FIRST token of its context].

    Slots of the width D = 24: token one-hot, position one-hot, "copy" one-hot. Head 0's
    query is a constant that only the key of position 0 answers (score gap ~40), its value
    carries the token code, and o_proj writes perm[token] into the copy slots, which the
    tied head reads (logit gap > 4). The FFN is zero. Cropping to the first instead of the
    last max_len tokens then changes the next token whenever the two windows start with
    different tokens: for random prompts, almost surely within a few steps.
    """
    V, ML = int(rng.integers(5, 10)), int(rng.integers(5, 7))
    H, dh, d_ff = 2, 12, 8
    D = H * dh
    init = {"vocab_size": V, "max_len": ML, "d_model": D, "n_heads": H, "n_layers": 1, "d_ff": d_ff}
    perm = rng.permutation(V)
    tok, pos, copy = np.arange(V), V + np.arange(ML), V + ML + np.arange(V)
    E = np.zeros((V, D))
    E[tok, tok] = 1.0
    E[tok, copy] = 1.0
    P = np.zeros((ML, D))
    P[np.arange(ML), pos] = 1.0
    wq, bq, wk, wv, wo = (np.zeros((D, D)), np.zeros(D), np.zeros((D, D)), np.zeros((D, D)),
                          np.zeros((D, D)))
    bq[0] = 40.0                       # every query of head 0 looks for "position 0"
    wk[0, pos[0]] = 1.0                # only the key at position 0 answers
    wv[tok, tok] = 1.0                 # head 0 carries the token code ...
    wo[copy[perm], tok] = 8.0          # ... written back as perm[token] in the copy slots
    b = "blocks.0."
    state = {"tok_emb.weight": E, "pos_emb.weight": P, "lm_head.proj.weight": E,
             "ln_f.weight": np.ones(D), "ln_f.bias": np.zeros(D),
             b + "ln1.weight": np.ones(D), b + "ln1.bias": np.zeros(D),
             b + "ln2.weight": np.ones(D), b + "ln2.bias": np.zeros(D),
             b + "attn.q_proj.weight": wq, b + "attn.q_proj.bias": bq,
             b + "attn.k_proj.weight": wk, b + "attn.k_proj.bias": np.zeros(D),
             b + "attn.v_proj.weight": wv, b + "attn.v_proj.bias": np.zeros(D),
             b + "attn.o_proj.weight": wo, b + "attn.o_proj.bias": np.zeros(D),
             b + "ffn.up.weight": np.zeros((d_ff, D)), b + "ffn.up.bias": np.zeros(d_ff),
             b + "ffn.down.weight": np.zeros((D, d_ff)), b + "ffn.down.bias": np.zeros(D)}
    return init, state


def _sample_next_token(ctx, *args, **kwargs):
    """The student's sample_next_token, the one generate picks its tokens with: models.py's own
    name for it (the stub imports it from heads), or heads' when models.py has none (it may
    `import heads` and call heads.sample_next_token)."""
    try:
        ctx.request({"op": "attr", "target": {"module": ctx.exercise, "attr": "sample_next_token"}})
        module = ctx.exercise
    except StudentError as err:
        if err.type != "AttributeError":
            raise
        module = "heads"
    return plain(ctx.request({"op": "call", "target": {"module": module, "attr": "sample_next_token"},
                              "args": to_wire(list(args)), "kwargs": to_wire(kwargs),
                              "banned": ctx.banned_for("sample_next_token")}))


def _gpt(ctx, init: dict, state: dict[str, np.ndarray] | None = None) -> Handle:
    ctx.last_input = "MiniGPT(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ")"
    h = ctx.new("MiniGPT", **init)
    h.call_raw("to", {"$dtype": "float64"})
    if state is not None:
        h.load_state_dict(state)
    return h


# --- MiniBERT ---------------------------------------------------------------------------------------


@checks.behaviour("minibert_structure",
                  "MiniBERT has tok_emb, pos_emb, ln_emb, blocks (EncoderBlocks) and an lm_head tied "
                  "to tok_emb.weight", points=1, uses=("MiniBERT",),
                  zh="MiniBERT 的子模块符合约定，lm_head 与 tok_emb.weight 共享权重")
def _(ctx):
    init = {"vocab_size": 11, "max_len": 7, "d_model": 6, "n_heads": 2, "n_layers": 2, "d_ff": 10}
    ctx.last_input = "MiniBERT(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ")"
    h = ctx.new("MiniBERT", **init)
    _check_structure(h, init, "MiniBERT", "EncoderBlock",
                     {"tok_emb.weight": (11, 6), "pos_emb.weight": (7, 6), "ln_emb.weight": (6,),
                      "ln_emb.bias": (6,)},
                     ("attn", "ln1", "ffn", "ln2"))


def _check_structure(h: Handle, init: dict, cls: str, block: str, top: dict, order: tuple) -> None:
    D, d_ff = init["d_model"], init["d_ff"]
    want = dict(top)
    for i in range(init["n_layers"]):
        want |= _block_params(f"blocks.{i}.", D, d_ff, order)
    want["lm_head.proj.weight"] = (init["vocab_size"], D)
    rows = h.params()
    got = {name: shape for name, shape, _, _ in rows}
    if set(got) != set(want) or any(got[k] != want[k] for k in want):
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        wrong = sorted(k for k in set(want) & set(got) if got[k] != want[k])
        fail("check_structure.cls_s_parameters", cls=cls,
             expected=(f"missing: {', '.join(missing[:6])}" if missing else "")
             + (f"  shapes: {', '.join(f'{k} {list(want[k])}' for k in wrong[:4])}" if wrong else ""),
             got=(f"unexpected: {', '.join(extra[:6])}" if extra else "")
             + (f"  shapes: {', '.join(f'{k} {list(got[k])}' for k in wrong[:4])}" if wrong else ""))
    ids = {name: pid for name, _, _, pid in rows}
    if ids["lm_head.proj.weight"] != ids["tok_emb.weight"]:
        fail("check_structure.cls_lm_head", cls=cls)
    first = h.sub("blocks.0")
    kind = first.info
    if not isinstance(kind, dict) or block not in first.class_names():
        got_type = kind.get("type") if isinstance(kind, dict) else kind
        fail("check_structure.cls_blocks_0", cls=cls, got_type=got_type, block=block)


@checks.compare_module("minibert_encode_reference",
                       "MiniBERT.encode matches the reference with the same weights (hidden states "
                       "and gradients; padding keys masked)", points=3,
                       cls="MiniBERT", method="encode",
                       zh="相同权重下 MiniBERT.encode 的隐藏状态与梯度与参考一致（padding 作为键被屏蔽）")
def _(rng):
    for with_mask, d_ff in ((False, False), (True, True)):
        init = _init(rng, d_ff)
        B, L = _batch(rng, init["max_len"])
        kwargs = {"attention_mask": _padding(rng, B, L)} if with_mask else {}
        yield Case(init=init, args=(_ids(rng, init["vocab_size"], B, L),), kwargs=kwargs)
    init = _init(rng)
    B = 2
    yield Case(init=init, args=(_ids(rng, init["vocab_size"], B, init["max_len"]),),
               kwargs={"attention_mask": _padding(rng, B, init["max_len"])}, dtype="float32")


@checks.compare_module("minibert_reference",
                       "MiniBERT matches the reference with the same weights (logits and gradients)", points=2,
                       cls="MiniBERT", zh="相同权重下 MiniBERT 的 logits 与梯度与参考一致")
def _(rng):
    for with_mask in (False, True):
        init = _init(rng)
        B, L = _batch(rng, init["max_len"])
        kwargs = {"attention_mask": _padding(rng, B, L)} if with_mask else {}
        yield Case(init=init, args=(_ids(rng, init["vocab_size"], B, L),), kwargs=kwargs)
    init = _init(rng, d_ff=False)
    yield Case(init=init, args=(_ids(rng, init["vocab_size"], 3, init["max_len"]),),
               kwargs={"attention_mask": _padding(rng, 3, init["max_len"])}, dtype="float32")


@checks.property("minibert_padding",
                 "MiniBERT ignores padding: a padded row equals the sentence alone, and the ids at "
                 "padding positions do not matter", points=2, uses=("MiniBERT",),
                 zh="MiniBERT 忽略 padding：带 padding 的句子与单独计算的结果相同，padding 的内容不影响结果")
def _(ctx):
    rng = ctx.rng
    for _ in range(2):
        init = _init(rng)
        V, L = init["vocab_size"], init["max_len"]
        B = 3
        ctx.last_input = "MiniBERT(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ")"
        h = ctx.new("MiniBERT", **init)
        h.call_raw("to", {"$dtype": "float64"})
        ids = _ids(rng, V, B, L)
        mask = _padding(rng, B, L)
        mask[1, L // 2:] = False
        out = expect_array(h(ids, mask), (B, L, V), np.float64, "logits")
        other = np.where(mask, ids, (ids + 1 + rng.integers(0, V - 1, size=ids.shape)) % V)
        out2 = expect_array(h(other, mask), (B, L, V), np.float64, "logits")
        ctx.last_input = f"ids {list(ids.shape)} with padding, lengths {mask.sum(1).tolist()}"
        if not np.allclose(out2[mask], out[mask], rtol=1e-9, atol=1e-9):
            fail("minibert_padding.changing_ids_padding",
                 got=f"max change {float(np.abs(out2[mask] - out[mask]).max()):.3g}")
        for b in range(B):
            n = int(mask[b].sum())
            alone = expect_array(h(ids[b:b + 1, :n]), (1, n, V), np.float64, "logits")
            ctx.close(out[b:b + 1, :n], alone, f"logits of row {b} (length {n}) in the padded batch "
                      "vs the same sentence alone")


# --- MiniGPT ----------------------------------------------------------------------------------------


@checks.behaviour("minigpt_structure",
                  "MiniGPT has tok_emb, pos_emb, blocks (DecoderBlocks), ln_f and an lm_head tied to "
                  "tok_emb.weight", points=1, uses=("MiniGPT",),
                  zh="MiniGPT 的子模块符合约定（DecoderBlock、ln_f），lm_head 与 tok_emb.weight 共享权重")
def _(ctx):
    init = {"vocab_size": 13, "max_len": 5, "d_model": 8, "n_heads": 2, "n_layers": 2, "d_ff": 12}
    ctx.last_input = "MiniGPT(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ")"
    h = ctx.new("MiniGPT", **init)
    _check_structure(h, init, "MiniGPT", "DecoderBlock",
                     {"tok_emb.weight": (13, 8), "pos_emb.weight": (5, 8), "ln_f.weight": (8,),
                      "ln_f.bias": (8,)},
                     ("ln1", "attn", "ln2", "ffn"))


@checks.compare_module("minigpt_reference",
                       "MiniGPT matches the reference with the same weights (logits and gradients)", points=3,
                       cls="MiniGPT", zh="相同权重下 MiniGPT 的 logits 与梯度与参考一致")
def _(rng):
    for d_ff in (False, True):
        init = _init(rng, d_ff)
        B, L = _batch(rng, init["max_len"])
        yield Case(init=init, args=(_ids(rng, init["vocab_size"], B, L),))
    init = _init(rng)
    yield Case(init=init, args=(_ids(rng, init["vocab_size"], 2, init["max_len"]),))
    init = _init(rng)
    yield Case(init=init, args=(_ids(rng, init["vocab_size"], 3, init["max_len"] - 1),), dtype="float32")


@checks.property("minigpt_causal",
                 "MiniGPT is causal: changing later tokens never changes earlier logits", points=2,
                 uses=("MiniGPT",), zh="MiniGPT 是因果的：改变后面的词不会改变前面位置的 logits")
def _(ctx):
    rng = ctx.rng
    init = _init(rng)
    h = _gpt(ctx, init)
    V, L = init["vocab_size"], init["max_len"]
    ids = _ids(rng, V, 3, L)
    out = expect_array(h(ids), (3, L, V), np.float64, "logits")
    for t in range(1, L):
        changed = ids.copy()
        changed[:, t:] = (changed[:, t:] + 1 + rng.integers(0, V - 1, size=changed[:, t:].shape)) % V
        ctx.last_input = f"ids {list(ids.shape)}, tokens at positions >= {t} changed"
        out2 = expect_array(h(changed), (3, L, V), np.float64, "logits")
        if not np.allclose(out2[:, :t], out[:, :t], rtol=1e-9, atol=1e-9):
            fail("minigpt_causal.changing_tokens_positions", t=t,
                 got=f"max change {float(np.abs(out2[:, :t] - out[:, :t]).max()):.3g}")


@checks.behaviour("max_len_checks",
                  "sequences longer than max_len raise ValueError (MiniBERT.forward, MiniBERT.encode, "
                  "MiniGPT.forward); exactly max_len works", points=1, uses=("MiniBERT", "MiniGPT"),
                  zh="长度超过 max_len 时抛出 ValueError；恰好等于 max_len 时正常")
def _(ctx):
    init = {"vocab_size": 9, "max_len": 5, "d_model": 6, "n_heads": 3, "n_layers": 1}
    rng = ctx.rng
    too_long, ok = _ids(rng, 9, 2, 6), _ids(rng, 9, 2, 5)
    for cls, methods in (("MiniBERT", ("forward", "encode")), ("MiniGPT", ("forward",))):
        ctx.last_input = f"{cls}(vocab_size=9, max_len=5, d_model=6, n_heads=3, n_layers=1) on ids [2, 6]"
        h = ctx.new(cls, **init)
        h.call_raw("to", {"$dtype": "float64"})
        for m in methods:
            _raises(ctx, h, m, too_long, what=f"{cls}.{m} on 6 tokens with max_len = 5")
        ctx.last_input = f"{cls}(..., max_len=5) on ids [2, 5]"
        expect_array(h(ok), (2, 5, 9), np.float64, f"{cls} logits at L = max_len")


# --- generate ----------------------------------------------------------------------------------------


@checks.compare_module("generate_reference",
                       "MiniGPT.generate (greedy) matches the reference with the same weights", points=2,
                       cls="MiniGPT", method="generate", backward=False,
                       zh="相同权重下 MiniGPT.generate（贪心）与参考一致")
def _(rng):
    init = _init(rng)
    yield Case(init=init, args=(_ids(rng, init["vocab_size"], 2, 3), 2))
    init = _init(rng)
    yield Case(init=init, args=(_ids(rng, init["vocab_size"], 3, 2), init["max_len"] + 2))
    init = _init(rng)
    yield Case(init=init, args=(_ids(rng, init["vocab_size"], 2, init["max_len"] + 1), 3),
               kwargs={"temperature": 0.0})
    init = _init(rng)
    yield Case(init=init, args=(_ids(rng, init["vocab_size"], 1, 4), 0))


@checks.property("generate_context",
                 "generate picks each token with sample_next_token from the last max_len tokens "
                 "(greedy past max_len; sampling with the generator it is given)", points=2,
                 uses=("MiniGPT.generate", "MiniGPT"),
                 zh="generate 每一步只用最后 max_len 个词，并用 sample_next_token 选出下一个词")
def _(ctx):
    rng = ctx.rng
    # greedy: every new token is the argmax at the last position of the last max_len tokens;
    # on a model that copies the context's first token, a wrong window shows at once
    init, state = _copy_first_gpt(rng)
    V, ML = init["vocab_size"], init["max_len"]
    h = _gpt(ctx, init, state)
    B, L0, new = 8, ML - 2, 6
    ids = _ids(rng, V, B, L0)
    ctx.last_input = f"generate(ids [{B}, {L0}], max_new_tokens={new}) with max_len = {ML}"
    try:
        reply = h.call("generate", ids, new)
    except StudentError as err:
        if err.not_implemented or not err.is_a("ValueError"):
            raise
        fail("generate_context.generate_raised_valueerror", ML=ML, message_=err.message[:80],
             frames=err.frames)
    out = expect_array(reply, (B, L0 + new), np.int64, "generate output")
    if not np.array_equal(out[:, :L0], ids):
        fail("generate_context.output_start_prompt")
    for j in range(L0, L0 + new):
        context = out[:, max(0, j - ML):j]
        logits = expect_array(h(context), (B, context.shape[1], V), np.float64, "logits")
        want = logits[:, -1].argmax(-1)
        if not np.array_equal(out[:, j], want):
            fail("generate_context.token_j_greedy", j=j, shape=context.shape[1], value=max(0, j - ML), value2=j - 1,
                 expected=np.array2string(want), got=np.array2string(out[:, j]))
    # sampling (random weights): the generator decides the draws, like sample_next_token's
    init = _init(rng)
    V, ML = init["vocab_size"], init["max_len"]
    h = _gpt(ctx, init, _gpt_state(rng, init))
    B, L0, new = 8, ML - 2, 5
    ids = _ids(rng, V, B, L0)
    out = expect_array(h.call("generate", ids, new), (B, L0 + new), np.int64, "generate output")
    temp = 50.0  # nearly flat: a sampled continuation of 8 x 5 tokens cannot be the greedy one
    g1 = ctx.new_from("torch", "Generator")
    g1.call_raw("manual_seed", 1234)
    ctx.last_input = (f"generate(ids [{B}, {L0}], max_new_tokens={new}, temperature={temp}, "
                      "generator=torch.Generator().manual_seed(1234))")
    sampled = expect_array(h.call("generate", ids, new, temperature=temp, generator=g1),
                           (B, L0 + new), np.int64, "generate output")
    g2 = ctx.new_from("torch", "Generator")
    g2.call_raw("manual_seed", 1234)
    for j in range(L0, L0 + new):
        context = sampled[:, max(0, j - ML):j]
        logits = expect_array(h(context), (B, context.shape[1], V), np.float64, "logits")
        want = expect_array(_sample_next_token(ctx, logits[:, -1], temperature=temp, generator=g2),
                            (B,), np.int64, "sample_next_token")
        if not np.array_equal(sampled[:, j], want):
            fail("generate_context.temperature_temp_token", temp=temp, j=j,
                 expected=np.array2string(want), got=np.array2string(sampled[:, j]))
    if np.array_equal(sampled, out):
        fail("generate_context.temperature_temp_exactly", temp=temp, B=B)


# --- Hugging Face export -----------------------------------------------------------------------------


def _hf_expected(state: dict[str, np.ndarray], n_layers: int) -> dict[str, np.ndarray]:
    """The GPT-2 names and layouts (Conv1D weights are (in, out); c_attn fuses [q | k | v])."""
    out = {"transformer.wte.weight": state["tok_emb.weight"],
           "transformer.wpe.weight": state["pos_emb.weight"]}
    for i in range(n_layers):
        s, p = f"blocks.{i}.", f"transformer.h.{i}."
        for ours, theirs in (("ln1", "ln_1"), ("ln2", "ln_2")):
            out[p + theirs + ".weight"] = state[s + ours + ".weight"]
            out[p + theirs + ".bias"] = state[s + ours + ".bias"]
        qkv = ("q_proj", "k_proj", "v_proj")
        out[p + "attn.c_attn.weight"] = np.concatenate([state[f"{s}attn.{n}.weight"] for n in qkv]).T
        out[p + "attn.c_attn.bias"] = np.concatenate([state[f"{s}attn.{n}.bias"] for n in qkv])
        out[p + "attn.c_proj.weight"] = state[s + "attn.o_proj.weight"].T
        out[p + "attn.c_proj.bias"] = state[s + "attn.o_proj.bias"]
        out[p + "mlp.c_fc.weight"] = state[s + "ffn.up.weight"].T
        out[p + "mlp.c_fc.bias"] = state[s + "ffn.up.bias"]
        out[p + "mlp.c_proj.weight"] = state[s + "ffn.down.weight"].T
        out[p + "mlp.c_proj.bias"] = state[s + "ffn.down.bias"]
    out["transformer.ln_f.weight"] = state["ln_f.weight"]
    out["transformer.ln_f.bias"] = state["ln_f.bias"]
    out["lm_head.weight"] = state["lm_head.proj.weight"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


@checks.property("hf_export",
                 "to_hf_gpt2_state_dict gives GPT-2's names and layouts (fused c_attn [q|k|v], "
                 "Conv1D weights transposed)", points=3, uses=("to_hf_gpt2_state_dict", "MiniGPT"),
                 zh="to_hf_gpt2_state_dict 的键名与形状符合 GPT-2（c_attn 按 [q|k|v] 融合，Conv1D 权重转置）")
def _(ctx):
    rng = ctx.rng
    for _ in range(2):
        init = _init(rng)
        state = _gpt_state(rng, init)
        h = _gpt(ctx, init, state)
        ctx.last_input = ctx.last_input + " loaded with random weights"
        got = ctx.call("to_hf_gpt2_state_dict", h)
        if not isinstance(got, dict):
            fail("hf_export.expected_dict_tensors", name=type(got).__name__)
        want = _hf_expected(state, init["n_layers"])
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        if missing or extra:
            fail("hf_export.keys_differ_gpt2lmheadmodel",
                 expected=f"missing: {', '.join(missing[:5])}" if missing else "all keys",
                 got=f"unexpected: {', '.join(extra[:5])}" if extra else "no extra keys")
        for k, w in want.items():
            g = expect_array(got[k], None, np.float64, k)
            if g.shape != w.shape:
                hint = " (Conv1D stores weights as (in, out): transpose the nn.Linear weight)" \
                    if g.shape == w.shape[::-1] else ""
                fail("hf_export.k_shape_shape", k=k, shape=list(g.shape), shape2=list(w.shape), hint=hint)
            if k.endswith("c_attn.weight"):
                _diagnose_c_attn(g, state, k)
            ctx.close(g, w, k)


def _diagnose_c_attn(got: np.ndarray, state: dict[str, np.ndarray], key: str) -> None:
    """Name the two usual c_attn mix-ups: untransposed blocks, and q/k/v in another order."""
    s = "blocks." + key.split(".")[2] + ".attn."
    w = {n: state[s + n + "_proj.weight"] for n in "qkv"}
    if np.allclose(got, np.concatenate([w["q"], w["k"], w["v"]], axis=1)):
        fail("diagnose_c_attn.key_q_k", key=key)
    for order in ("qvk", "kqv", "kvq", "vqk", "vkq"):
        if np.allclose(got, np.concatenate([w[n] for n in order]).T):
            fail("diagnose_c_attn.key_projections_fused", key=key, order=', '.join(order))
