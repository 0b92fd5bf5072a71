"""Checks for `seq2seq`: the encoder-decoder MiniTransformer, greedy_translate and train_seq2seq.

- MiniTransformer: the submodule names and shapes of the contract (a block may be a subclass of
  EncoderBlock / Seq2SeqDecoderBlock: its MRO is read); ``encode``, ``decode`` and
  ``forward`` compared with the reference with the same weights (outputs, input and parameter
  gradients), with right-padded sources; sizes keep src_vocab != tgt_vocab, Ls != Lt, several
  heads. The reference itself equals ``nn.Transformer`` with copied weights
  (tests/test_oracle_seq2seq.py). Properties on weights drawn here, sizes drawn by hypothesis:
  source padding is invisible (the ids at padded positions never matter, a padded row equals
  the row alone); lengths above max_len raise ValueError.
- greedy_translate is checked against the student's own model, step by step: every token is
  the argmax of ``model(src, prefix, src_mask)`` at the last position. The end-of-sequence id
  is chosen here from that step-by-step run so that rows finish at different steps: a finished
  row must continue with EOS, decoding stops when every row has finished (or after
  max_new_tokens). Runs whose top two logits come within 1e-6 of each other at some step are
  not used (two correct implementations may round such a near-tie differently).
- train_seq2seq, on the shipped reversal task (``grader/data/seq2seq.npz``, built by
  ``grader/data/make_seq2seq_data.py``, read with ``np.load(allow_pickle=False)``): 1000
  training pairs of 2-5 symbols (9 ids: PAD 0, BOS 1, EOS 2 and 6 symbols), scored on 200
  held-out sources: the shipped ones in local mode, 200 drawn afresh with the run's seed in
  official mode (never shipped). Greedy translations are made here with the trained model's
  own forward (so this check does not depend on greedy_translate); a translation counts when
  it is the reversed source followed by EOS. The reference reaches 0.985-1.00 with ~0.8 s of
  CPU (see the builder's docstring), an untrained model 0.0, one epoch 0.085, copying the
  source 0.045; the pass mark is 0.90, training within 120 s.
Tolerances: F64 / F32 (grader/checks.py).
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, Checks, Handle, expect_array, fail
from grader.messages import msg
from grader.strategies import normal

checks = Checks("seq2seq")

DATA = Path(__file__).resolve().parent.parent / "data" / "seq2seq.npz"
THRESHOLD = 0.90
BUDGET_S = 120
N_HELD_OUT = 200  # the shipped held-out split's size, and the fresh draw's in official mode
NEAR_TIE = 1e-6


# --- sizes, ids and weights ---------------------------------------------------------------------------


def _init(rng: np.random.Generator, d_ff: bool = True) -> dict:
    """Constructor arguments: D = H * dh, src_vocab != tgt_vocab != D, 1-2 layers each side."""
    H, dh = (int(v) for v in rng.choice([2, 3, 4], size=2, replace=False))
    src_vocab = int(rng.integers(9, 15))
    tgt_vocab = int(rng.choice([v for v in range(5, 13) if v not in (src_vocab, H * dh)]))
    init = {"src_vocab": src_vocab, "tgt_vocab": tgt_vocab, "max_len": int(rng.integers(6, 9)),
            "d_model": H * dh, "n_heads": H, "n_layers": int(rng.integers(1, 3))}
    if d_ff:
        init["d_ff"] = int(rng.integers(5, 11))
    return init


def _ids(rng: np.random.Generator, V: int, B: int, L: int) -> np.ndarray:
    return rng.integers(0, V, size=(B, L)).astype(np.int64)


def _padding(rng: np.random.Generator, B: int, L: int) -> np.ndarray:
    """Right padding, every row keeps at least one real token; row 0 is full, row 1 short."""
    lengths = rng.integers(1, L + 1, size=B)
    lengths[0] = L
    if B > 1:
        lengths[1] = max(1, L // 3)
    return np.arange(L)[None, :] < lengths[:, None]


def _lengths(rng: np.random.Generator, max_len: int) -> tuple[int, int, int]:
    """(B, Ls, Lt) with Ls != Lt and B different from both where the range allows."""
    Ls = int(rng.integers(3, max_len + 1))
    Lt = int(rng.choice([v for v in range(2, max_len + 1) if v != Ls]))
    B = int(rng.choice([v for v in range(2, 5) if v not in (Ls, Lt)] or [2]))
    return B, Ls, Lt


def _attn_params(prefix: str, D: int) -> dict[str, tuple[int, ...]]:
    out = {}
    for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
        out[f"{prefix}.{p}.weight"] = (D, D)
        out[f"{prefix}.{p}.bias"] = (D,)
    return out


def _expected_params(init: dict) -> dict[str, tuple[int, ...]]:
    """Every parameter of a MiniTransformer under the contract's names, with its shape."""
    Vs, Vt, ML, D = init["src_vocab"], init["tgt_vocab"], init["max_len"], init["d_model"]
    d_ff = init.get("d_ff") or 4 * D
    ffn = {"ffn.up.weight": (d_ff, D), "ffn.up.bias": (d_ff,), "ffn.down.weight": (D, d_ff),
           "ffn.down.bias": (D,)}
    want: dict[str, tuple[int, ...]] = {"src_emb.weight": (Vs, D), "tgt_emb.weight": (Vt, D),
                                        "pos_emb.weight": (ML, D)}
    for side, attns, norms in (("encoder", ("attn",), ("ln1", "ln2")),
                               ("decoder", ("self_attn", "cross_attn"), ("ln1", "ln2", "ln3"))):
        for i in range(init["n_layers"]):
            for a in attns:
                want |= _attn_params(f"{side}.{i}.{a}", D)
            for n in norms:
                want[f"{side}.{i}.{n}.weight"] = want[f"{side}.{i}.{n}.bias"] = (D,)
            want |= {f"{side}.{i}.{k}": v for k, v in ffn.items()}
    for n in ("enc_ln", "dec_ln"):
        want[f"{n}.weight"] = want[f"{n}.bias"] = (D,)
    want["proj.weight"], want["proj.bias"] = (Vt, D), (Vt,)
    return want


def _state(rng: np.random.Generator, init: dict) -> dict[str, np.ndarray]:
    """Random weights under the contract's names: LayerNorm gains around 1, other matrices
    scaled by 2/sqrt(fan-in) so that different inputs give clearly different outputs."""
    state = {}
    for name, shape in _expected_params(init).items():
        if name.endswith("emb.weight"):
            state[name] = normal(rng, shape)
        elif len(shape) == 2:
            state[name] = normal(rng, shape, scale=2.0 / np.sqrt(shape[1]))
        elif "ln" in name.rsplit(".", 2)[-2] and name.endswith(".weight"):
            state[name] = 1.0 + 0.3 * normal(rng, shape)
        else:
            state[name] = 0.5 * normal(rng, shape)
    return state


def _model(ctx, init: dict, state: dict[str, np.ndarray] | None = None) -> Handle:
    """The student's MiniTransformer in float64, loaded with ``state`` (drawn when None)."""
    ctx.last_input = "MiniTransformer(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ")"
    h = ctx.new("MiniTransformer", **init)
    h.call_raw("to", {"$dtype": "float64"})
    h.load_state_dict(_state(ctx.rng, init) if state is None else state)
    return h


# --- MiniTransformer ------------------------------------------------------------------------------------


@checks.behaviour("transformer_structure",
                  "MiniTransformer has the contract's submodules: src_emb, tgt_emb, one shared pos_emb, "
                  "encoder (EncoderBlocks), enc_ln, decoder (Seq2SeqDecoderBlocks), dec_ln, proj", points=1,
                  uses=("MiniTransformer",),
                  zh="MiniTransformer 的子模块符合约定：src_emb、tgt_emb、共享的 pos_emb、encoder（EncoderBlock）、"
                     "enc_ln、decoder（Seq2SeqDecoderBlock）、dec_ln、proj")
def _(ctx):
    for init in ({"src_vocab": 11, "tgt_vocab": 7, "max_len": 5, "d_model": 6, "n_heads": 2, "n_layers": 2,
                  "d_ff": 10},
                 {"src_vocab": 9, "tgt_vocab": 13, "max_len": 4, "d_model": 8, "n_heads": 4, "n_layers": 1}):
        ctx.last_input = "MiniTransformer(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ")"
        h = ctx.new("MiniTransformer", **init)
        want = _expected_params(init)
        got = {name: shape for name, shape, _, _ in h.params()}
        if got != want:
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            wrong = sorted(k for k in set(want) & set(got) if got[k] != want[k])
            tied = " (proj is its own nn.Linear with a bias, not tied to tgt_emb)" \
                if "proj.weight" in missing and not extra else ""
            fail("transformer_structure.minitransformer_s_parameters", tied=tied,
                 expected=(f"missing: {', '.join(missing[:6])}" if missing else "")
                 + (f"  shapes: {', '.join(f'{k} {list(want[k])}' for k in wrong[:4])}" if wrong else ""),
                 got=(f"unexpected: {', '.join(extra[:6])}" if extra else "")
                 + (f"  shapes: {', '.join(f'{k} {list(got[k])}' for k in wrong[:4])}" if wrong else ""))
        for attr, cls in (("encoder.0", "EncoderBlock"), ("decoder.0", "Seq2SeqDecoderBlock")):
            block = h.sub(attr)
            info = block.info
            kind = info.get("type") if isinstance(info, dict) else info
            if not isinstance(info, dict) or cls not in block.class_names():
                fail("transformer_structure.minitransformer_value_kind", value=attr.replace('.0', '[0]'), kind=kind,
                     cls=cls)


@checks.compare_module("encode_reference",
                       "MiniTransformer.encode matches the reference with the same weights (memory and "
                       "gradients; padded source keys masked)", points=3,
                       cls="MiniTransformer", method="encode",
                       zh="相同权重下 MiniTransformer.encode 的输出与梯度与参考一致（源句 padding 作为键被屏蔽）")
def _(rng):
    for with_mask, d_ff in ((False, False), (True, True)):
        init = _init(rng, d_ff)
        B, Ls, _ = _lengths(rng, init["max_len"])
        kwargs = {"src_mask": _padding(rng, B, Ls)} if with_mask else {}
        yield Case(init=init, args=(_ids(rng, init["src_vocab"], B, Ls),), kwargs=kwargs)
    init = _init(rng, d_ff=False)
    yield Case(init=init, args=(_ids(rng, init["src_vocab"], 3, init["max_len"]),),
               kwargs={"src_mask": _padding(rng, 3, init["max_len"])}, dtype="float32")


@checks.compare_module("decode_reference",
                       "MiniTransformer.decode matches the reference with the same weights (hidden states, "
                       "memory and parameter gradients; padded memory keys masked)", points=3,
                       cls="MiniTransformer", method="decode",
                       zh="相同权重下 MiniTransformer.decode 的输出、对 memory 与参数的梯度与参考一致"
                          "（memory 的 padding 被屏蔽）")
def _(rng):
    for with_mask, d_ff in ((False, True), (True, False)):
        init = _init(rng, d_ff)
        B, Ls, Lt = _lengths(rng, init["max_len"])
        kwargs = {"src_mask": _padding(rng, B, Ls)} if with_mask else {}
        yield Case(init=init, args=(_ids(rng, init["tgt_vocab"], B, Lt), normal(rng, (B, Ls, init["d_model"]))),
                   kwargs=kwargs, wrt=(1,))
    init = _init(rng)
    B, Ls, Lt = _lengths(rng, init["max_len"])
    yield Case(init=init, args=(_ids(rng, init["tgt_vocab"], B, Lt),
                                normal(rng, (B, Ls, init["d_model"]), np.float32)),
               kwargs={"src_mask": _padding(rng, B, Ls)}, wrt=(1,), dtype="float32")


@checks.compare_module("transformer_reference",
                       "MiniTransformer (encode, decode, proj) matches the reference with the same weights "
                       "(logits and gradients, padded sources)", points=3,
                       cls="MiniTransformer",
                       zh="相同权重下 MiniTransformer 的 logits 与梯度与参考一致（源句带 padding）")
def _(rng):
    for with_mask, d_ff in ((False, True), (True, False)):
        init = _init(rng, d_ff)
        B, Ls, Lt = _lengths(rng, init["max_len"])
        kwargs = {"src_mask": _padding(rng, B, Ls)} if with_mask else {}
        yield Case(init=init, args=(_ids(rng, init["src_vocab"], B, Ls), _ids(rng, init["tgt_vocab"], B, Lt)),
                   kwargs=kwargs)
    init = _init(rng)
    ML = init["max_len"]
    yield Case(init=init, args=(_ids(rng, init["src_vocab"], 2, ML), _ids(rng, init["tgt_vocab"], 2, ML)),
               kwargs={"src_mask": _padding(rng, 2, ML)}, dtype="float32")


@checks.property("transformer_padding",
                 "source padding is invisible: the ids at padded source positions never change the logits, "
                 "and a padded row equals the same source alone", points=2, uses=("MiniTransformer",),
                 zh="源句的 padding 不可见：padding 位置的 id 不影响 logits，带 padding 的行与单独输入同一源句时相同")
def _(ctx):
    made: dict[tuple, Handle] = {}

    @ctx.given(st.sampled_from([(6, 2), (6, 3), (8, 4)]), st.integers(1, 2), st.integers(2, 4),
               st.integers(2, 7), st.integers(1, 7), st.integers(0, 2**31 - 1), max_examples=5)
    def prop(size, n_layers, B, Ls, Lt, seed):
        D, H = size
        init = {"src_vocab": 11, "tgt_vocab": 7, "max_len": 7, "d_model": D, "n_heads": H, "n_layers": n_layers}
        key = (D, H, n_layers)
        if key not in made:
            made[key] = _model(ctx, init)
        h = made[key]
        rng = np.random.default_rng(seed)
        src, tgt = _ids(rng, 11, B, Ls), _ids(rng, 7, B, Lt)
        mask = _padding(rng, B, Ls)
        ctx.last_input = (f"MiniTransformer(d_model={D}, n_heads={H}, n_layers={n_layers}) on src {list(src.shape)} "
                          f"with padding (lengths {mask.sum(1).tolist()}), tgt {list(tgt.shape)}")
        out = expect_array(h(src, tgt, mask), (B, Lt, 7), np.float64, "logits")
        other = np.where(mask, src, (src + 1 + rng.integers(0, 10, size=src.shape)) % 11)
        out2 = expect_array(h(other, tgt, mask), (B, Lt, 7), np.float64, "logits")
        if not np.allclose(out2, out, rtol=1e-9, atol=1e-9):
            fail("transformer_padding.changing_source_ids",
                 got=f"max change {float(np.abs(out2 - out).max()):.3g}")
        for b in range(B):
            n = int(mask[b].sum())
            alone = expect_array(h(src[b:b + 1, :n], tgt[b:b + 1]), (1, Lt, 7), np.float64, "logits")
            ctx.close(out[b:b + 1], alone, f"logits of row {b} (source length {n}) in the padded batch "
                      "vs the same source alone")

    prop()


@checks.behaviour("max_len_checks",
                  "sources or targets longer than max_len raise ValueError (encode, decode, forward); "
                  "exactly max_len works", points=1, uses=("MiniTransformer",),
                  zh="源句或目标句长度超过 max_len 时抛出 ValueError（encode、decode、forward）；"
                     "恰好等于 max_len 时正常")
def _(ctx):
    init = {"src_vocab": 9, "tgt_vocab": 7, "max_len": 5, "d_model": 6, "n_heads": 3, "n_layers": 1}
    rng = ctx.rng
    h = _model(ctx, init)
    ok_src, ok_tgt = _ids(rng, 9, 2, 5), _ids(rng, 7, 2, 5)
    long_src, long_tgt = _ids(rng, 9, 2, 6), _ids(rng, 7, 2, 6)
    ctx.last_input = "MiniTransformer(src_vocab=9, tgt_vocab=7, max_len=5, ...) on src [2, 5], tgt [2, 5]"
    memory = expect_array(h.call("encode", ok_src), (2, 5, 6), np.float64, "encode(src) at Ls = max_len")
    expect_array(h(ok_src, ok_tgt), (2, 5, 7), np.float64, "logits at Ls = Lt = max_len")
    for method, args, what in (("encode", (long_src,), "encode on a source of 6 tokens"),
                               ("decode", (long_tgt, memory), "decode on a target of 6 tokens"),
                               ("forward", (long_src, ok_tgt), "forward on a source of 6 tokens"),
                               ("forward", (ok_src, long_tgt), "forward on a target of 6 tokens")):
        ctx.last_input = f"MiniTransformer(..., max_len=5).{what}"
        h.raises("ValueError", method, *args)


# --- greedy_translate -------------------------------------------------------------------------------


def _free_run(ctx, h: Handle, src: np.ndarray, mask: np.ndarray | None, bos: int, steps: int,
              V: int, until_differs: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``steps`` greedy tokens per row from the model's own forward, never stopping; and the
    smallest gap between the two largest logits on the way. With ``until_differs`` (another
    run), stop at the first step whose tokens differ from it (enough to tell the runs apart)."""
    B = src.shape[0]
    prefix = np.full((B, 1), bos, dtype=np.int64)
    gap = np.inf
    for t in range(steps):
        args = (src, prefix) if mask is None else (src, prefix, mask)
        logits = expect_array(h(*args), (B, t + 1, V), np.float64, "MiniTransformer logits")[:, -1]
        top2 = np.sort(logits, axis=-1)[:, -2:]
        gap = min(gap, float((top2[:, 1] - top2[:, 0]).min()))
        prefix = np.concatenate([prefix, logits.argmax(-1)[:, None]], axis=1)
        if until_differs is not None and not np.array_equal(prefix[:, t + 1], until_differs[:, t]):
            break
    return prefix[:, 1:], gap


def _pick_eos(run: np.ndarray, bos: int, every_row: bool) -> tuple[int, np.ndarray] | None:
    """Choose the EOS id from a free greedy run so that the rules show; also return the step at
    which each row first produces it (``run.shape[1]`` for a row that never does).

    every_row: every row produces it, the last one before the final step (so that stopping
    early shows), at as many different steps as possible. Otherwise: some row goes on with
    another id after producing it (so that filling finished rows with EOS shows) while
    another row has not finished yet (so that stopping at the first EOS shows)."""
    W = run.shape[1]
    best = None
    for e in map(int, np.unique(run)):
        if e == bos:
            continue
        has = (run == e).any(axis=1)
        first = np.where(has, (run == e).argmax(axis=1), W)
        if every_row:
            if not has.all() or first.max() >= W - 1:
                continue
            score: tuple = (len(set(first.tolist())),)
        else:
            end = min(W, int(first.max()) + 1)  # decoding stops there
            refill = sum(bool((run[r, first[r] + 1:end] != e).any()) for r in np.flatnonzero(has))
            if not refill or not (first > first.min()).any():
                continue
            score = (refill, len(set(first.tolist())))
        if best is None or score > best[0]:
            best = (score, e, first)
    return None if best is None else (best[1], best[2])


def _expected_translation(run: np.ndarray, first: np.ndarray, bos: int, eos: int, max_new: int) -> np.ndarray:
    """What greedy_translate must return given the free run and where each row first hits EOS."""
    n = min(max_new, int(first.max()) + 1)
    out = run[:, :n].copy()
    out[np.arange(n)[None, :] > first[:, None]] = eos
    return np.concatenate([np.full((len(run), 1), bos, dtype=np.int64), out], axis=1)


def _greedy_state(rng: np.random.Generator, init: dict) -> dict[str, np.ndarray]:
    """Random weights whose greedy runs vary from step to step and depend on the source: small
    self-attention and FFN weights (the residual keeps the last token and the position
    visible), a strong cross-attention."""
    state = _state(rng, init)
    for name, v in state.items():
        if v.ndim == 2 and not name.endswith("emb.weight") and name != "proj.weight":
            state[name] = v * (1.0 if ".cross_attn." in name else 0.25)
    return state


def _greedy_case(ctx, kind: str, tries: int = 16):
    """A model (weights drawn here), sources, bos and the chosen eos on which the rules of
    greedy decoding show (see _pick_eos), with no near-tie on the way. kind: "all" (3 rows
    that all finish), "mixed" (5 rows), "padded" (5 right-padded rows, and the run with
    src_mask differs from the run without it)."""
    rng = ctx.rng
    for _ in range(tries):
        init = _init(rng)
        init["max_len"] = int(rng.integers(7, 10))
        h = _model(ctx, init, _greedy_state(rng, init))
        Vs, Vt, ML = init["src_vocab"], init["tgt_vocab"], init["max_len"]
        B, Ls = (3 if kind == "all" else 5), int(rng.integers(4, ML + 1))
        src = _ids(rng, Vs, B, Ls)
        mask = _padding(rng, B, Ls) if kind == "padded" else None
        bos = int(rng.integers(0, Vt))
        run, gap = _free_run(ctx, h, src, mask, bos, ML, Vt)
        picked = _pick_eos(run, bos, every_row=kind == "all")
        if picked is None or gap <= NEAR_TIE:
            continue
        if kind == "padded" and np.array_equal(_free_run(ctx, h, src, None, bos, ML, Vt, until_differs=run)[0], run):
            continue  # the mask changes nothing here: it could not show that it is passed on
        return h, init, src, mask, bos, run, picked
    fail("greedy_case.could_find_model")


def _check_translation(ctx, h, src, mask, bos, eos, max_new, want, what: str) -> None:
    """Call the student's greedy_translate and compare it with ``want`` token for token."""
    kwargs = {} if mask is None else {"src_mask": mask}
    lengths = "" if mask is None else f", src_mask with lengths {mask.sum(1).tolist()}"
    ctx.last_input = (f"greedy_translate(model, src {list(src.shape)}, bos_id={bos}, eos_id={eos}, "
                      f"max_new_tokens={max_new}{lengths})")
    got = expect_array(ctx.call("greedy_translate", h, src, bos, eos, max_new, **kwargs), None,
                       what="greedy_translate output")
    if got.dtype.kind not in "iu":
        fail("check_translation.greedy_translate_returned", dtype=got.dtype)
    if got.ndim != 2 or got.shape[0] != want.shape[0]:
        fail("check_translation.greedy_translate_output", shape=list(got.shape), shape2=list(want.shape))
    if not (got[:, 0] == bos).all():
        fail("check_translation.translation_start_bos",
             expected=np.array2string(want[:, 0]), got=np.array2string(got[:, 0]))
    if got.shape[1] != want.shape[1]:
        n_got, n_want = got.shape[1] - 1, want.shape[1] - 1
        if n_got > max_new:
            why = msg("check_translation.why_never_more_max")
        elif n_got > n_want:
            why = msg("check_translation.why_every_row_had", n_want=n_want)
        else:
            why = msg("check_translation.why_stop_only_every")
        fail("check_translation.what_n_new", what=what, n_got=n_got, n_want=n_want, why=why,
             expected=f"shape {list(want.shape)}", got=f"shape {list(got.shape)}")
    bad = np.argwhere(got != want)
    if len(bad):
        r, t = (int(v) for v in bad[0])
        done = bool((want[r, 1:t] == eos).any())
        why = (msg("check_translation.why_row_r_had", r=r, eos=eos) if done else
               msg("check_translation.why_not_argmax" if mask is None else "check_translation.why_not_argmax_mask",
                   t=t, r=r))
        fail("check_translation.what_why", what=what, why=why, expected=np.array2string(want[r]),
             got=np.array2string(got[r]))


@checks.property("greedy_translate_eos",
                 "greedy_translate takes the argmax at every step, fills finished rows with eos_id and stops "
                 "once every row has produced it (or after max_new_tokens)", points=3,
                 uses=("greedy_translate", "MiniTransformer"),
                 zh="greedy_translate 每一步取 argmax，已结束的行填 eos_id，"
                    "所有行都生成 eos_id 后（或达到 max_new_tokens）停止")
def _(ctx):
    h, init, src, _, bos, run, (eos, first) = _greedy_case(ctx, "mixed")
    want = _expected_translation(run, first, bos, eos, init["max_len"])
    _check_translation(ctx, h, src, None, bos, eos, init["max_len"], want, "rows finishing at different steps")
    h, init, src, _, bos, run, (eos, first) = _greedy_case(ctx, "all")
    steps = int(first.max()) + 1
    for max_new, what in ((init["max_len"], f"every row finished after {steps} of max_new_tokens steps"),
                          (steps - 1, "cut off by max_new_tokens before the last row finishes")):
        if max_new >= 1:
            want = _expected_translation(run, first, bos, eos, max_new)
            _check_translation(ctx, h, src, None, bos, eos, max_new, want, what)


@checks.property("greedy_translate_padding",
                 "greedy_translate on right-padded sources passes src_mask on: the same tokens as the "
                 "model's own forward with that mask", points=2, uses=("greedy_translate", "MiniTransformer"),
                 zh="greedy_translate 处理带 padding 的源句时传递 src_mask：与模型带同一掩码的前向结果一致")
def _(ctx):
    for _ in range(2):
        h, init, src, mask, bos, run, (eos, first) = _greedy_case(ctx, "padded")
        want = _expected_translation(run, first, bos, eos, init["max_len"])
        _check_translation(ctx, h, src, mask, bos, eos, init["max_len"], want, "with padded sources")


@checks.behaviour("greedy_translate_behaviour",
                  "greedy_translate: max_new_tokens > max_len raises ValueError, 0 gives the BOS column, "
                  "src is not modified", points=1, uses=("greedy_translate",),
                  zh="greedy_translate：max_new_tokens > max_len 时抛出 ValueError，为 0 时只返回 BOS 列，不修改 src")
def _(ctx):
    h, init, src, _, bos, run, (eos, first) = _greedy_case(ctx, "all")
    ML = init["max_len"]
    ctx.last_input = (f"greedy_translate(model with max_len={ML}, src {list(src.shape)}, bos_id={bos}, "
                      f"eos_id={eos}, max_new_tokens={ML + 1}); every row ends after {int(first.max()) + 1} steps")
    ctx.raises("ValueError", "greedy_translate", h, src, bos, eos, ML + 1)
    ctx.last_input = f"greedy_translate(model, src {list(src.shape)}, bos_id={bos}, eos_id={eos}, max_new_tokens=0)"
    got = expect_array(ctx.call_keep_inputs("greedy_translate", h, src, bos, eos, 0), (src.shape[0], 1),
                       what="greedy_translate output with max_new_tokens=0")
    if not (got == bos).all():
        fail("greedy_translate_behaviour.max_new_tokens", got=np.array2string(got[:, 0]))
    ctx.last_input = f"greedy_translate(model, src {list(src.shape)}, bos_id={bos}, eos_id={eos}, max_new_tokens={ML})"
    ctx.call_keep_inputs("greedy_translate", h, src, bos, eos, ML)


# --- train_seq2seq ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def task() -> tuple[dict[str, int], dict[str, list[tuple[list[int], list[int]]]]]:
    """The shipped task (read once)."""
    return read_task(DATA)


def read_task(path: Path) -> tuple[dict[str, int], dict[str, list[tuple[list[int], list[int]]]]]:
    """(config, {"train": pairs, "test": pairs}), read without pickle (make_seq2seq_data.py too)."""
    with np.load(path, allow_pickle=False) as f:
        config = {k[len("config/"):]: int(f[k]) for k in f.files if k.startswith("config/")}
        splits = {}
        for name in ("train", "test"):
            src, tgt, lens = f[f"{name}_src"], f[f"{name}_tgt"], f[f"{name}_len"]
            splits[name] = [(src[i, :n].tolist(), tgt[i, :n].tolist()) for i, n in enumerate(lens)]
    return config, splits


def draw_sources(rng: np.random.Generator, n: int, exclude: set[tuple[int, ...]], first_symbol: int,
                 n_symbols: int, min_len: int, max_len: int) -> list[list[int]]:
    """n distinct sources of min_len..max_len symbols (ids first_symbol .. first_symbol +
    n_symbols - 1, lengths uniform), none of them in ``exclude``: the shipped splits
    (make_seq2seq_data.py) and the fresh held-out sources of an official run."""
    out: list[list[int]] = []
    seen = set(exclude)
    while len(out) < n:
        length = int(rng.integers(min_len, max_len + 1))
        x = tuple(int(v) for v in first_symbol + rng.integers(0, n_symbols, size=length))
        if x in seen:
            continue
        seen.add(x)
        out.append(list(x))
    return out


def held_out_set(ctx) -> tuple[list[tuple[list[int], list[int]]], str]:
    """(pairs, description) the trained model is scored on: see held_out_pairs."""
    return held_out_pairs(ctx.mode == "official", ctx.seed)


def held_out_pairs(fresh: bool, seed: int) -> tuple[list[tuple[list[int], list[int]]], str]:
    """Local mode: the shipped held-out split. Official mode (fresh): as many sources drawn
    afresh with the run's seed from the task's distribution, none of them shipped (train or
    test), so the released targets are worth nothing there."""
    config, splits = task()
    test = splits["test"]
    if not fresh:
        return test, f"the {len(test)} shipped held-out sources"
    rng = np.random.default_rng([seed % 2**63, 0x5E92])
    shipped = {tuple(x) for pairs in splits.values() for x, _ in pairs}
    first = config["first_symbol"]
    src = draw_sources(rng, len(test), shipped, first, config["vocab_size"] - first, config["min_len"],
                       config["max_len"])
    return [(x, x[::-1]) for x in src], f"{len(test)} held-out sources drawn fresh for this run"


def _pad(rows: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    L = max(len(r) for r in rows)
    ids = np.full((len(rows), L), pad, dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
    return ids, np.arange(L)[None, :] < np.array([len(r) for r in rows])[:, None]


def _translate(model: Handle, src: np.ndarray, mask: np.ndarray, bos: int, steps: int, V: int) -> np.ndarray:
    """Greedy decoding with the model's own forward (never stopping early): Long[B, steps]."""
    B = src.shape[0]
    out = np.full((B, 1), bos, dtype=np.int64)
    for t in range(steps):
        logits = expect_array(model(src, out, mask), (B, t + 1, V), what="model(src, tgt, src_mask) logits")
        if logits.dtype.kind != "f" or not np.isfinite(logits).all():
            fail("translate.trained_model_s")
        out = np.concatenate([out, logits[:, -1].argmax(-1)[:, None]], axis=1)
    return out[:, 1:]


@checks.quality("train_seq2seq_quality",
                f"train_seq2seq learns to reverse sequences: exact match >= {THRESHOLD:.2f} on {N_HELD_OUT} "
                f"held-out sources, trained within {BUDGET_S} s", points=6,
                uses=("train_seq2seq", "MiniTransformer"), timeout=BUDGET_S,
                zh=f"train_seq2seq 学会倒序：在 {N_HELD_OUT} 个留出源句上完全匹配率至少 {THRESHOLD:.2f}，"
                   f"训练限时 {BUDGET_S} 秒")
def _(ctx):
    config, splits = task()
    V, pad, bos, eos = config["vocab_size"], config["pad_id"], config["bos_id"], config["eos_id"]
    test, held_out = held_out_set(ctx)
    ctx.last_input = (f"train_seq2seq({len(splits['train'])} reversal pairs of {config['min_len']}-"
                      f"{config['max_len']} symbols, src_vocab={V}, tgt_vocab={V}, bos_id={bos}, eos_id={eos}, "
                      f"pad_id={pad}, default sizes, epochs, lr, seed=0); greedy translations of {held_out}")
    start = time.monotonic()
    model = ctx.store("train_seq2seq", splits["train"], V, V, bos, eos, pad_id=pad, seed=0)
    elapsed = time.monotonic() - start
    src, mask = _pad([x for x, _ in test], pad)
    steps = max(len(y) for _, y in test) + 1
    # in chunks of 200 sources: each call holds its autograd graph until it returns (~40 MB at 200)
    out = np.concatenate([_translate(model, src[i:i + 200], mask[i:i + 200], bos, steps, V)
                          for i in range(0, len(src), 200)])
    acc = float(np.mean([row[:len(y) + 1].tolist() == [*y, eos] for row, (_, y) in zip(out, test)]))
    ctx.reached(acc, THRESHOLD, "held-out exact match", "留出集完全匹配率", elapsed, BUDGET_S, digits=3)
    if acc < THRESHOLD:
        heads = [row[:len(y) + 1] for row, (_, y) in zip(out, test)]
        ended = float(np.mean([eos in h.tolist() for h in heads]))
        read = np.concatenate([np.full((len(out), 1), bos), out[:, :-1]], axis=1)  # the decoder's inputs
        repeats = float(np.mean(out == read))
        if repeats > 0.5:
            why = (msg("train_seq2seq_quality.why_model_mostly_repeats"))
        elif ended < 0.05:
            why = (msg("train_seq2seq_quality.why_almost_translation_ever"))
        else:
            why = (msg("train_seq2seq_quality.why_decoder_read_bos"))
        fail("train_seq2seq_quality.exact_match_accuracy", acc=acc, THRESHOLD=THRESHOLD, why=why,
             expected=f">= {THRESHOLD:.2f} (reference: about 0.99; untrained: 0.0)",
             got=f"{acc:.3f} in {elapsed:.1f} s ({ended:.2f} of the translations end with eos_id)")


@checks.behaviour("train_seq2seq_seed",
                  "train_seq2seq follows its seed: the same seed gives the same model, another seed another one",
                  points=1, uses=("train_seq2seq",), timeout=BUDGET_S,
                  zh="train_seq2seq 遵循 seed：相同的 seed 得到相同的模型，不同的 seed 得到不同的模型")
def _(ctx):
    config, splits = task()
    V, pad, bos, eos = config["vocab_size"], config["pad_id"], config["bos_id"], config["eos_id"]
    pairs = splits["train"][:64]
    src, mask = _pad([x for x, _ in splits["test"][:16]], pad)
    tgt, _ = _pad([[bos, *y] for _, y in splits["test"][:16]], pad)
    runs = []
    for s in (1, 1, 2):
        ctx.last_input = f"train_seq2seq(first 64 training pairs, ..., epochs=1, seed={s})"
        model = ctx.store("train_seq2seq", pairs, V, V, bos, eos, pad_id=pad, epochs=1, seed=s)
        runs.append(expect_array(model(src, tgt, mask), None, what="model(src, tgt, src_mask) logits"))
    ctx.last_input = "train_seq2seq(first 64 training pairs, ..., epochs=1, seed=s) for s = 1, 1, 2"
    if runs[0].shape != runs[1].shape or not np.array_equal(runs[0], runs[1]):
        fail("train_seq2seq_seed.two_runs_seed")
    if runs[0].shape == runs[2].shape and np.array_equal(runs[0], runs[2]):
        fail("train_seq2seq_seed.seed_1_seed")
