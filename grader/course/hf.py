"""Checks for `hf`: MiniBERT -> BertModel, MiniGPT + BPE -> a from_pretrained folder, LoRA with peft.

Everything the student returns is judged by the real Hugging Face libraries on the trusted
side, against the student's own models (exercise `models`, built in the worker and loaded
with weights drawn here), so the checks need no reference and judge the same in local and
official mode:

- ``to_hf_bert_state_dict``: the returned tensors (plain data on the wire) are compared by
  name with the weights drawn here (BERT's names are the contract), then loaded, strictly,
  into ``transformers.BertModel`` built from the contract's config in float64, whose
  ``last_hidden_state`` must equal ``MiniBERT.encode`` at the real tokens of right-padded
  batches.
- ``export_pretrained``: the returned ``{name: bytes}`` are written here into a temporary
  folder (only ``*.json`` and ``model.safetensors``: nothing that would be unpickled) and
  loaded offline with ``AutoModelForCausalLM`` / ``AutoTokenizer`` (``local_files_only``,
  ``use_safetensors``, ``trust_remote_code=False``). Before loading, config.json must
  describe a GPT-2 of the model's sizes and every regular expression in tokenizer.json
  must be section 14's split pattern, so nothing a submission writes can make the trusted
  side allocate a huge model or run a pathological regex. The logits must equal
  ``MiniGPT.forward`` (float64), greedy ``generate`` must equal ``MiniGPT.generate``, and
  the tokenizer must encode like ``bpe_encode``: on fixed English / Chinese / chat texts
  and on random texts composed from chunks, whose ids are known because BPE encodes chunk
  by chunk. The vocabulary, merges and ids come from ``grader/data/hf.npz``, made by
  ``grader/data/make_hf_data.py`` (a trainer that follows section 14, cross-checked with
  tiktoken); no BPE encoder ships with the checks.
- ``peft_lora``: the returned PeftModel lives in the worker. Its trainable parameters must
  be exactly LoRA on the nn.Linear layers apply_lora would wrap (r·(in + out) each); with
  LoRA matrices A, B drawn here it must compute what the student's own model computes with
  the merged weights W + (alpha / r)·B·A (the definition of the adaptation, which is also
  what apply_lora + merge gives), and ``merge_and_unload()`` must give those weights.

Tolerances: F64 (grader/checks.py); the models are float64.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import F64, CheckFailed, Checks, Handle, StudentError, compare_values, expect_array, fail
from grader.messages import msg
from grader.protocol.wire import Array
from grader.strategies import normal

checks = Checks("hf")

DATA = Path(__file__).resolve().parent.parent / "data" / "hf.npz"
SPLIT_PATTERN = r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+"
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
WRITABLE = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*\.json|model\.safetensors")
# BertModel buffers that older transformers versions keep in the state_dict
BERT_BUFFERS = {"embeddings.position_ids", "embeddings.token_type_ids"}
NO_TOKEN_IDS = ("bos_token_id", "eos_token_id", "pad_token_id")  # None in config.json


# --- the Hugging Face libraries ------------------------------------------------------------------
# BertModel, from_pretrained and AutoTokenizer run in an oracle worker (grader/course/oracles/hf.py,
# `ctx.oracle("hf")`): the grading process never imports transformers.


# --- the shipped tokenizer -----------------------------------------------------------------------


@dataclass(frozen=True)
class TokenizerData:
    vocab: dict[int, bytes]
    merges: list[tuple[bytes, bytes]]
    specials: list[str]
    special_texts: list[tuple[str, list[int]]]   # encoded with the special tokens
    plain_texts: list[tuple[str, list[int]]]     # encoded with special_tokens=[]
    pieces: list[tuple[str, int, list[int]]]     # (chunk, kind, ids): 0 word, 1 " word", 2 whitespace


@lru_cache(maxsize=1)
def tokenizer_data() -> TokenizerData:
    with np.load(DATA, allow_pickle=False) as f:
        a = {k: f[k] for k in f.files}

    def raw(prefix: str) -> list[bytes]:
        flat, off = a[f"{prefix}_bytes"].tobytes(), a[f"{prefix}_offsets"]
        return [flat[off[i]:off[i + 1]] for i in range(len(off) - 1)]

    def ids(prefix: str) -> list[list[int]]:
        flat, off = a[f"{prefix}_flat"], a[f"{prefix}_offsets"]
        return [flat[off[i]:off[i + 1]].tolist() for i in range(len(off) - 1)]

    vocab = dict(enumerate(raw("vocab")))
    texts = lambda name: [(t.decode("utf-8"), i) for t, i in zip(raw(f"{name}_texts"), ids(f"{name}_ids"))]
    return TokenizerData(
        vocab=vocab,
        merges=[(vocab[int(x)], vocab[int(y)]) for x, y in a["merges"]],
        specials=[s.decode("utf-8") for s in raw("specials")],
        special_texts=texts("special"), plain_texts=texts("plain"),
        pieces=[(p.decode("utf-8"), int(k), i) for p, k, i in zip(raw("pieces"), a["piece_kind"], ids("piece_ids"))],
    )


def compose(rng: np.random.Generator, data: TokenizerData, n: int, specials: bool) -> tuple[str, list[int]]:
    """A random text of ``n`` chunks (and special tokens) with its known ids.

    BPE encodes chunk by chunk, so the ids are the chunks' ids joined, provided the split
    pattern cuts the joined text into the same chunks: a word never follows a word, a
    " word" or a whitespace run never follows a whitespace run (the run would take the
    space), and no run is a lone space (" " + word is one chunk). Special tokens cut the
    text first, so they may go anywhere.
    """
    by_kind = {k: [p for p in data.pieces if p[1] == k] for k in (0, 1, 2)}
    allowed = {"start": (0, 1, 2), "special": (0, 1, 2), 0: (1, 2), 1: (1, 2), 2: (0,)}
    prev: Any = "start"
    text, ids = [], []
    for _ in range(n):
        if specials and rng.random() < 0.2:
            s = int(rng.integers(len(data.specials)))
            text.append(data.specials[s])
            ids.append(256 + s)
            prev = "special"
            continue
        kind = int(rng.choice(allowed[prev]))
        piece, _, piece_ids = by_kind[kind][int(rng.integers(len(by_kind[kind])))]
        text.append(piece)
        ids.extend(piece_ids)
        prev = kind
    return "".join(text), ids


# --- models in the worker ----------------------------------------------------------------------


def _init(rng: np.random.Generator, vocab_size: int | None = None, d_ff: bool = True) -> dict:
    """Sizes with D = H·dh, several heads, V != D, d_ff != 4·D when given."""
    H, dh = (int(v) for v in rng.choice([2, 3, 4], size=2, replace=False))
    init = {"vocab_size": vocab_size or int(rng.integers(9, 16)), "max_len": int(rng.integers(7, 11)),
            "d_model": H * dh, "n_heads": H, "n_layers": int(rng.integers(1, 3))}
    if d_ff:
        init["d_ff"] = int(rng.integers(5, 11))
    return init


def _weights(rng: np.random.Generator, init: dict, kind: str) -> dict[str, np.ndarray]:
    """Random weights under the contract's names (section 9), tied head included."""
    V, ML, D, N = init["vocab_size"], init["max_len"], init["d_model"], init["n_layers"]
    d_ff = init.get("d_ff") or 4 * D
    w = {"tok_emb.weight": normal(rng, (V, D)), "pos_emb.weight": normal(rng, (ML, D))}
    norms = ["ln_emb"] if kind == "bert" else []
    for i in range(N):
        p = f"blocks.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            w[f"{p}attn.{name}.weight"] = normal(rng, (D, D), scale=2 / np.sqrt(D))
            w[f"{p}attn.{name}.bias"] = normal(rng, (D,), scale=0.3)
        w[p + "ffn.up.weight"] = normal(rng, (d_ff, D), scale=2 / np.sqrt(D))
        w[p + "ffn.up.bias"] = normal(rng, (d_ff,), scale=0.3)
        w[p + "ffn.down.weight"] = normal(rng, (D, d_ff), scale=1 / np.sqrt(d_ff))
        w[p + "ffn.down.bias"] = normal(rng, (D,), scale=0.3)
        norms += [p + "ln1", p + "ln2"]
    if kind == "gpt":
        norms.append("ln_f")
    for n in norms:
        w[n + ".weight"] = 1.0 + normal(rng, (D,), scale=0.3)
        w[n + ".bias"] = normal(rng, (D,), scale=0.3)
    w["lm_head.proj.weight"] = w["tok_emb.weight"]
    return w


def _model(ctx, cls: str, init: dict, weights: dict[str, np.ndarray]) -> Handle:
    """The student's MiniBERT / MiniGPT (exercise `models`), float64, holding ``weights``."""
    ctx.last_input = f"{cls}(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ") with random weights"
    h = ctx.new_from("models", cls, **init)
    h.call_raw("to", {"$dtype": "float64"})
    h.load_state_dict(weights)
    return h


def _padded(rng: np.random.Generator, V: int, B: int, L: int) -> tuple[np.ndarray, np.ndarray]:
    """ids [B, L] and a right-padding mask whose row 0 is full; every row keeps a token."""
    ids = rng.integers(0, V, size=(B, L)).astype(np.int64)
    lengths = rng.integers(1, L + 1, size=B)
    lengths[0] = L
    return ids, np.arange(L)[None, :] < lengths[:, None]


def _close(got: np.ndarray, want: np.ndarray, what: str, message: str, input: str = "") -> None:
    """Fail with ``message`` (plus expected/got and the error) unless the arrays agree (F64)."""
    f = compare_values(Array(np.asarray(got)), Array(np.asarray(want)), F64, what)
    if f:
        f.message, f.input = message, input
        raise CheckFailed(f)


# --- to_hf_bert_state_dict -------------------------------------------------------------------------

# BERT's name for each MiniBERT weight (the table in the exercise's docstring)
BERT_LAYER = {
    "attention.self.query": "attn.q_proj", "attention.self.key": "attn.k_proj",
    "attention.self.value": "attn.v_proj", "attention.output.dense": "attn.o_proj",
    "attention.output.LayerNorm": "ln1", "intermediate.dense": "ffn.up",
    "output.dense": "ffn.down", "output.LayerNorm": "ln2",
}


def _bert_sources(n_layers: int) -> dict[str, str | None]:
    """BertModel key -> the MiniBERT weight it must hold (None: zeros)."""
    src: dict[str, str | None] = {
        "embeddings.word_embeddings.weight": "tok_emb.weight",
        "embeddings.position_embeddings.weight": "pos_emb.weight",
        "embeddings.token_type_embeddings.weight": None,
        "embeddings.LayerNorm.weight": "ln_emb.weight",
        "embeddings.LayerNorm.bias": "ln_emb.bias",
    }
    for i in range(n_layers):
        for theirs, ours in BERT_LAYER.items():
            for part in ("weight", "bias"):
                src[f"encoder.layer.{i}.{theirs}.{part}"] = f"blocks.{i}.{ours}.{part}"
    return src


def _bert_config(init: dict) -> dict:
    """The sizes BertModel is built with (the oracle's BertConfig)."""
    return {k: init.get(k) for k in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len")}


def _bert_export(ctx, rng: np.random.Generator, d_ff: bool) -> tuple[dict, dict, Handle, dict]:
    init = _init(rng, d_ff=d_ff)
    weights = _weights(rng, init, "bert")
    h = _model(ctx, "MiniBERT", init, weights)
    got = ctx.call("to_hf_bert_state_dict", h)
    if not isinstance(got, dict):
        fail("bert_export.hf_bert_state", name=type(got).__name__)
    return init, weights, h, got


def _bert_names(init: dict, weights: dict[str, np.ndarray], got: dict) -> None:
    src = _bert_sources(init["n_layers"])
    missing = sorted(set(src) - set(got))
    extra = sorted(set(got) - set(src) - BERT_BUFFERS)
    if missing or extra:
        fail("bert_names.keys_differ_bertmodel",
             expected=f"missing: {', '.join(missing[:4])}" if missing else "all of BertModel's keys",
             got=f"unexpected: {', '.join(extra[:4])}" if extra else "no extra keys")
    by_value = {name: w for name, w in weights.items() if name != "lm_head.proj.weight"}
    for key, ours in src.items():
        want = np.zeros((1, init["d_model"])) if ours is None else weights[ours]
        g = expect_array(got[key], None, np.float64, key)
        if g.shape != want.shape:
            fail("bert_names.key_shape_shape", key=key, shape=list(g.shape), shape2=list(want.shape))
        if np.array_equal(g, want):
            continue
        holds = [n for n, w in by_value.items() if w.shape == g.shape and np.array_equal(w, g)]
        if ours is None:
            fail("bert_names.key_zeros_shape", key=key)
        fail("bert_names.holds_other" if holds else "bert_names.does_not_hold", key=key, ours=ours,
             other=holds[0] if holds else "",
             expected=f"{ours} = {np.array2string(want.reshape(-1)[:4], precision=4)}…",
             got=np.array2string(g.reshape(-1)[:4], precision=4) + "…")


@checks.property("bert_names",
                 "to_hf_bert_state_dict: BertModel's keys and shapes, each holding the right MiniBERT weight "
                 "(token type embeddings zero), float64 kept, the model unchanged", points=2,
                 uses=("to_hf_bert_state_dict", "MiniBERT"),
                 zh="to_hf_bert_state_dict：键名与形状符合 BertModel，每个张量是对应的 MiniBERT 权重"
                    "（token type 向量为零），保持 float64，且不修改模型")
def _(ctx):
    for d_ff in (True, False):
        init, weights, h, got = _bert_export(ctx, ctx.rng, d_ff)
        _bert_names(init, weights, got)
        after = h.state_dict()
        changed = [k for k, w in weights.items() if k in after and not np.array_equal(np.asarray(after[k]), w)]
        if changed or set(after) != set(weights):
            fail("bert_names.hf_bert_state", got="changed: " + ", ".join(changed[:3]))


@checks.property("bert_hidden_states",
                 "transformers.BertModel loaded with to_hf_bert_state_dict gives MiniBERT.encode's hidden "
                 "states (float64, right padding)", points=4, uses=("to_hf_bert_state_dict", "MiniBERT"),
                 zh="用 to_hf_bert_state_dict 加载的 transformers.BertModel 给出与 MiniBERT.encode 相同的"
                    "隐藏状态（float64，右侧 padding）")
def _(ctx):
    rng = ctx.rng
    with ctx.oracle("hf") as hf:
        for d_ff in (True, False):
            init, _, h, got = _bert_export(ctx, rng, d_ff)
            config = _bert_config(init)
            keys = hf.call("bert_keys", config)
            _answer(isinstance(keys, list) and all(isinstance(k, str) for k in keys))
            want_keys = set(keys)
            state = {k: v for k, v in got.items() if k not in BERT_BUFFERS}
            missing, extra = sorted(want_keys - set(state)), sorted(set(state) - want_keys)
            if missing or extra:
                fail("bert_hidden_states.strict_refuses", missing=", ".join(missing[:3]) or "-",
                     extra=", ".join(extra[:3]) or "-")
            for k, v in state.items():
                if not isinstance(v, np.ndarray) or v.dtype.kind != "f":
                    fail("bert_hidden_states.k_expected_float", k=k, name=type(v).__name__)
            B, L = 3, init["max_len"]
            ids, mask = _padded(rng, init["vocab_size"], B, L)
            mask[1, L // 2:] = False
            try:
                theirs = hf.call("bert_hidden_states", config, state, ids, mask)
            except StudentError as err:  # load_state_dict(strict=True) refused it
                fail("bert_hidden_states.load_refuses", err=err.message.split("\n\t", 1)[-1][:200])
            case = f"ids [{B}, {L}], right padding, lengths {mask.sum(1).tolist()}"
            ctx.last_input += f"; {case}"
            ours = expect_array(h.call("encode", ids, mask), (B, L, init["d_model"]), np.float64,
                                "MiniBERT.encode")
            theirs = expect_array(theirs, (B, L, init["d_model"]), np.float64, "BertModel's last_hidden_state")
            _close(theirs[mask], ours[mask], "last_hidden_state at the real tokens",
                   msg("bert_hidden_states.bertmodel_s_last"), ctx.last_input)


# --- export_pretrained ------------------------------------------------------------------------------


def _export(ctx, rng: np.random.Generator, specials: bool, d_ff: bool = True) -> tuple[dict, Handle, dict]:
    data = tokenizer_data()
    init = _init(rng, vocab_size=len(data.vocab), d_ff=d_ff)
    init["max_len"] = int(rng.integers(10, 14))
    h = _model(ctx, "MiniGPT", init, _weights(rng, init, "gpt"))
    sp = list(data.specials) if specials else []
    ctx.last_input += (f"; export_pretrained(model, vocab ({len(data.vocab)} tokens), merges "
                       f"({len(data.merges)}), special_tokens={sp})")
    files = ctx.call("export_pretrained", h, {int(k): bytes(v) for k, v in data.vocab.items()}, data.merges, sp)
    if not isinstance(files, dict) or not all(isinstance(v, bytes) for v in files.values()):
        got = type(files).__name__ if not isinstance(files, dict) else \
            ", ".join(f"{k}: {type(v).__name__}" for k, v in list(files.items())[:3])
        fail("export.export_pretrained_return",
             got=got)
    return init, h, files


def _answer(ok: bool) -> None:
    """The oracle's answer has the form its function returns (it always has: a check of it)."""
    if not ok:
        fail("hf_oracle.bad_answer")


def _writable(files: dict[str, bytes]) -> dict[str, bytes]:
    """What the oracle writes into its folder: only JSON and model.safetensors."""
    return {name: blob for name, blob in files.items() if WRITABLE.fullmatch(name)}


def _json(files: dict[str, bytes], name: str) -> dict:
    if name not in files:
        fail("json.name_missing_files", name=name,
             expected=", ".join(REQUIRED_FILES), got=", ".join(sorted(files)) or "no files")
    try:
        value = json.loads(files[name].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        fail("json.name_valid_json", name=name, err=str(err)[:80])
    if not isinstance(value, dict):
        fail("json.name_hold_json", name=name)
    return value


def _gpt2_config(files: dict[str, bytes], init: dict) -> None:
    """config.json describes GPT-2 with the model's sizes (checked before anything loads it)."""
    config = _json(files, "config.json")
    if config.get("model_type") != "gpt2":
        fail("gpt2_config.config_json_model", value=config.get("model_type"))
    if "auto_map" in config:
        fail("gpt2_config.config_json_auto")
    D = init["d_model"]
    sizes = {"vocab_size": init["vocab_size"], "n_positions": init["max_len"], "n_embd": D,
             "n_head": init["n_heads"], "n_layer": init["n_layers"], "n_inner": init.get("d_ff") or 4 * D}
    for key, want in sizes.items():
        if config.get(key) != want:
            why = msg("gpt2_config.why_gpt_2_s") \
                if key == "n_inner" else ""
            fail("gpt2_config.config_json_key", key=key, key2=config.get(key), want=want, why=why)


def _check_safetensors(files: dict[str, bytes], init: dict) -> None:
    if "model.safetensors" not in files:
        fail("check_safetensors.model_safetensors_missing",
             expected=", ".join(REQUIRED_FILES), got=", ".join(sorted(files)))
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(files["model.safetensors"])
    except (SafetensorError, ValueError, OSError) as err:
        fail("check_safetensors.model_safetensors_safetensors", err=str(err)[:80])
    D, V = init["d_model"], init["vocab_size"]
    wte = tensors.get("transformer.wte.weight")
    if wte is None:
        fail("check_safetensors.model_safetensors_transformer",
             got=", ".join(sorted(tensors)[:4]))
    if tuple(wte.shape) != (V, D):
        fail("check_safetensors.model_safetensors_transformer_2", shape=list(wte.shape), value=[V, D])
    import torch

    if wte.dtype != torch.float64:
        fail("check_safetensors.model_safetensors_stores", value=str(wte.dtype).replace('torch.', ''))


@checks.behaviour("export_files",
                  "export_pretrained returns config.json, model.safetensors, tokenizer.json and "
                  "tokenizer_config.json as bytes; the config is a GPT-2 of the model's sizes with n_inner = "
                  "d_ff and no bos/eos/pad ids", points=2, uses=("export_pretrained", "MiniGPT"),
                  zh="export_pretrained 以 bytes 返回 config.json、model.safetensors、tokenizer.json 与 "
                     "tokenizer_config.json；config 是尺寸与模型一致的 GPT-2，n_inner = d_ff，"
                     "没有 bos/eos/pad id")
def _(ctx):
    init, _, files = _export(ctx, ctx.rng, specials=True)
    missing = [n for n in REQUIRED_FILES if n not in files]
    if missing:
        fail("export_files.export_pretrained_return", REQUIRED_FILES=', '.join(REQUIRED_FILES),
             missing=', '.join(missing),
             got=", ".join(sorted(files)) or "no files")
    _gpt2_config(files, init)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        _json(files, name)
    _check_safetensors(files, init)
    with ctx.oracle("hf") as hf:
        try:
            config = hf.call("config_token_ids", _writable(files), list(NO_TOKEN_IDS))
        except StudentError as err:
            fail("export_model.cannot_load", type=err.type, err=err.message.strip().split("\n")[0][:200])
    _answer(isinstance(config, dict))
    for key in NO_TOKEN_IDS:
        if config.get(key) is not None:
            fail("export_files.loaded_config_key", key=key, config=config.get(key))


def _run_model(hf: Any, files: dict[str, bytes], init: dict, ids: np.ndarray, prompt: np.ndarray,
               n: int) -> tuple[np.ndarray, np.ndarray]:
    """The exported folder loaded by AutoModelForCausalLM.from_pretrained in the oracle: its
    logits on ``ids`` and its greedy continuation of ``prompt``."""
    _gpt2_config(files, init)
    _check_safetensors(files, init)
    try:
        answer = hf.call("causal_lm", _writable(files), ids, prompt, n)
    except StudentError as err:
        fail("export_model.cannot_load", type=err.type, err=err.message.strip().split("\n")[0][:200])
    _answer(isinstance(answer, (list, tuple)) and len(answer) == 2)
    return answer[0], answer[1]


@checks.property("export_model",
                 "AutoModelForCausalLM.from_pretrained loads the exported folder offline; its logits equal "
                 "MiniGPT's and greedy generate gives MiniGPT.generate's tokens", points=4,
                 uses=("export_pretrained", "MiniGPT"),
                 zh="AutoModelForCausalLM.from_pretrained 可离线加载导出的文件夹；logits 与 MiniGPT 相同，"
                    "贪心 generate 与 MiniGPT.generate 生成相同的词")
def _(ctx):
    rng = ctx.rng
    with ctx.oracle("hf") as hf:
        for d_ff in (True, False):
            init, h, files = _export(ctx, rng, specials=False, d_ff=d_ff)
            V, ML = init["vocab_size"], init["max_len"]
            ids = rng.integers(0, V, size=(2, ML)).astype(np.int64)
            L0 = int(rng.integers(1, 4))
            prompt = rng.integers(0, V, size=(3, L0)).astype(np.int64)
            n = ML - L0
            logits, out = _run_model(hf, files, init, ids, prompt, n)
            logits = expect_array(logits, (2, ML, V), np.float64, "the loaded model's logits")
            ours = expect_array(h(ids), (2, ML, V), np.float64, "MiniGPT logits")
            _close(logits, ours, "logits", msg("export_model.loaded_model_s"),
                   ctx.last_input + f"; ids [2, {ML}]")
            out = expect_array(out, None, None, "the loaded model's generate")
            want = expect_array(h.call("generate", prompt, n), (3, ML), np.int64, "MiniGPT.generate")
            if out.shape != want.shape or not np.array_equal(out, want):
                fail("export_model.greedy_generate_loaded", L0=L0, n=n, expected=np.array2string(want[0]),
                     got=np.array2string(out[0]))


def _regexes(tree: Any) -> list[Any]:
    """Every {"Regex": ...} pattern anywhere in tokenizer.json."""
    found = []
    stack = [tree]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if "Regex" in v:
                found.append(v["Regex"])
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return found


def _round_trips(hf: Any, files: dict[str, bytes], texts: list[str]) -> list[tuple[list[int], str]]:
    """AutoTokenizer.from_pretrained on the exported folder, in the oracle: (ids, decoded) per text."""
    tree = _json(files, "tokenizer.json")
    _json(files, "tokenizer_config.json")
    for pattern in _regexes(tree):
        if pattern != SPLIT_PATTERN:
            fail("load_tokenizer.tokenizer_json_regular", pattern=str(pattern)[:60], SPLIT_PATTERN=SPLIT_PATTERN)
    try:
        answer = hf.call("tokenizer_round_trips", _writable(files), texts)
    except StudentError as err:
        fail("same_encoding.cannot_load", type=err.type, err=err.message.strip().split("\n")[0][:200])
    _answer(isinstance(answer, list) and len(answer) == len(texts) and all(
        isinstance(a, (list, tuple)) and len(a) == 2 and isinstance(a[0], (list, tuple))
        and all(type(i) is int for i in a[0]) and isinstance(a[1], str) for a in answer))
    return answer


def _tokens(ids: list[int], vocab: dict[int, bytes]) -> str:
    shown = [vocab[i].decode("utf-8", "replace") if i in vocab else f"<{i}?>" for i in ids[:8]]
    return "[" + ", ".join(repr(s) for s in shown) + (", …]" if len(ids) > 8 else "]")


def _same_encoding(got: list[int], back: str, text: str, want: list[int], data: TokenizerData, mode: str) -> None:
    if got != want:
        k = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        fail("same_encoding.exported_tokenizer_encodes", text=text[:40], value='…' if len(text) > 40 else '', mode=mode,
             k=k,
             expected=f"{want[k:k + 8]} = {_tokens(want[k:], data.vocab)}",
             got=f"{got[k:k + 8]} = {_tokens(got[k:], data.vocab)}")
    if back != text:
        fail("same_encoding.exported_tokenizer_decode", text=text[:40], expected=repr(text[:60]), got=repr(back[:60]))


@checks.property("export_tokenizer",
                 "AutoTokenizer.from_pretrained loads the exported folder offline and encodes English, Chinese "
                 "and chat texts like bpe_encode (special tokens one id each), decoding them back", points=4,
                 uses=("export_pretrained",),
                 zh="AutoTokenizer.from_pretrained 可离线加载导出的文件夹，对英文、中文和对话文本的编码与 "
                    "bpe_encode 相同（每个特殊词元一个 id），并能解码回原文")
def _(ctx):
    data = tokenizer_data()
    rng = ctx.rng
    for specials in (False, True):
        _, _, files = _export(ctx, rng, specials=specials)
        mode = f"special_tokens={data.specials}" if specials else "special_tokens=[]"
        fixed = data.special_texts if specials else data.plain_texts
        drawn = [compose(rng, data, int(rng.integers(1, 12)), specials) for _ in range(20)]
        with ctx.oracle("hf") as hf:
            answers = _round_trips(hf, files, [text for text, _ in fixed + drawn])
        for (text, want), (got, back) in zip(fixed + drawn, answers):
            _same_encoding(list(got), back, text, want, data, mode)


# --- peft_lora ---------------------------------------------------------------------------------------

# (model, target_names, r, alpha, the modules apply_lora wraps per block): the non-Linear
# names (tok_emb an nn.Embedding, attn a MultiHeadAttention) are what bare names get wrong
PEFT_CASES = (
    ("MiniGPT", ["q_proj", "v_proj", "tok_emb"], 2, 4.0, ("attn.q_proj", "attn.v_proj")),
    ("MiniBERT", ["up", "attn", "o_proj"], 3, 1.5, ("ffn.up", "attn.o_proj")),
)


def _adapted(init: dict, per_block: tuple[str, ...]) -> list[str]:
    return [f"blocks.{i}.{m}" for i in range(init["n_layers"]) for m in per_block]


def _module_path(name: str, known: set[str]) -> str:
    """peft's parameter name -> the module's name in the base model (prefixes stripped)."""
    path = name.split(".lora_")[0]
    while path not in known and "." in path:
        path = path.split(".", 1)[1]
    return path


def _peft_case(ctx, rng: np.random.Generator, case: tuple) -> tuple[dict, dict, Handle, Handle]:
    cls, targets, r, alpha, _ = case
    init = _init(rng)
    weights = _weights(rng, init, "gpt" if cls == "MiniGPT" else "bert")
    h = _model(ctx, cls, init, weights)
    ctx.last_input += f"; peft_lora(model, {targets}, r={r}, alpha={alpha})"
    peft = ctx.store("peft_lora", h, targets, r, alpha)
    if not (isinstance(peft.info, dict) and peft.info.get("module")):
        fail("peft_case.peft_lora_return", info=peft.info)
    return init, weights, h, peft


def _lora_names(peft: Handle, known: set[str]) -> dict[str, dict[str, tuple[str, tuple[int, ...]]]]:
    """module path -> {"A": (param name, shape), "B": ...} for peft's LoRA parameters."""
    out: dict[str, dict[str, tuple[str, tuple[int, ...]]]] = {}
    for name, shape, _, _ in peft.params():
        m = re.search(r"\.lora_(A|B)\.[^.]+\.weight$", name)
        if m:
            out.setdefault(_module_path(name, known), {})[m.group(1)] = (name, shape)
    return out


@checks.property("peft_lora_targets",
                 "peft_lora adapts exactly the nn.Linear layers apply_lora would wrap: the same trainable "
                 "parameters (r·(in + out) each), a peft model, the model given unchanged", points=3,
                 uses=("peft_lora",),
                 zh="peft_lora 恰好适配 apply_lora 会包装的 nn.Linear：可训练参数相同（每层 r·(in + out) 个），"
                    "是 peft 模型，且不修改传入的模型")
def _(ctx):
    for case in PEFT_CASES:
        _, targets, r, _, per_block = case
        init, weights, h, peft = _peft_case(ctx, ctx.rng, case)
        known = {n.rsplit(".", 1)[0] for n in weights} | {"tok_emb", "pos_emb"}
        D, d_ff = init["d_model"], init.get("d_ff") or 4 * init["d_model"]
        size = {"attn.q_proj": 2 * D, "attn.v_proj": 2 * D, "attn.o_proj": 2 * D, "ffn.up": D + d_ff}
        want = _adapted(init, per_block)
        want_count = sum(r * size[m.split(".", 2)[2]] for m in want)
        rows = peft.params()
        seen: set[int] = set()
        count, base_trainable = 0, []
        for name, shape, grad, ident in rows:
            if grad and ident not in seen:
                seen.add(ident)
                count += int(np.prod(shape))
                if ".lora_" not in name:
                    base_trainable.append(name)
        if base_trainable:
            fail("peft_lora_targets.pretrained_weights_trainable", got=", ".join(base_trainable[:3]))
        adapted = sorted({_module_path(n, known) for n, _, g, _ in rows if g and ".lora_" in n})
        if not _lora_names(peft, known):
            fail("peft_lora_targets.returned_model_peft")
        if adapted != sorted(want):
            extra, missing = sorted(set(adapted) - set(want)), sorted(set(want) - set(adapted))
            fail("peft_lora_targets.peft_adapted_other", targets=targets,
                 expected=", ".join(want), got=", ".join(adapted)
                 + (f" (extra: {', '.join(extra[:3])})" if extra else "")
                 + (f" (missing: {', '.join(missing[:3])})" if missing else ""))
        if count != want_count:
            fail("peft_lora_targets.peft_model_count", count=count, want_count=want_count, want=len(want))
        after = h.state_dict()
        grads = [n for n, _, g, _ in h.params() if not g]
        if set(after) != set(weights) or grads:
            fail("peft_lora_targets.peft_lora_changed",
                 got=", ".join(sorted(set(after) ^ set(weights))[:3]) or f"frozen: {', '.join(grads[:3])}")


@checks.property("peft_lora_outputs",
                 "with the same A and B the peft model computes the model with W + (alpha/r)·B·A, as "
                 "apply_lora does, and merge_and_unload() gives exactly those weights", points=3,
                 uses=("peft_lora",),
                 zh="A、B 相同时，peft 模型的输出等于权重为 W + (alpha/r)·B·A 的模型（与 apply_lora 相同），"
                    "merge_and_unload() 恰好得到这些权重")
def _(ctx):
    rng = ctx.rng
    for case in PEFT_CASES:
        cls, _, r, alpha, per_block = case
        init, weights, _, peft = _peft_case(ctx, rng, case)
        known = {n.rsplit(".", 1)[0] for n in weights} | {"tok_emb", "pos_emb"}
        lora = _lora_names(peft, known)
        state = peft.state_dict()
        merged = dict(weights)
        for path in _adapted(init, per_block):
            if path not in lora or set(lora[path]) != {"A", "B"}:
                fail("peft_lora_outputs.path_peft_lora", path=path, got=", ".join(sorted(lora)[:4]))
            (a_name, a_shape), (b_name, b_shape) = lora[path]["A"], lora[path]["B"]
            out_f, in_f = weights[path + ".weight"].shape
            if a_shape != (r, in_f) or b_shape != (out_f, r):
                fail("peft_lora_outputs.path_lora_shape", path=path, a_shape=list(a_shape), b_shape=list(b_shape), r=r,
                     value=[r, in_f], value2=[out_f, r])
            A, B = normal(rng, (r, in_f)), normal(rng, (out_f, r))
            state[a_name], state[b_name] = A, B
            merged[path + ".weight"] = weights[path + ".weight"] + (alpha / r) * B @ A
        peft.load_state_dict(state)
        ids, mask = _padded(rng, init["vocab_size"], 2, init["max_len"])
        args = (ids,) if cls == "MiniGPT" else (ids, mask)
        where = ctx.last_input + f"; lora_A, lora_B drawn at random; forward on ids {list(ids.shape)}"
        want = expect_array(_model(ctx, cls, init, merged)(*args), ids.shape + (init["vocab_size"],), np.float64,
                            f"{cls} with the merged weights")
        ctx.last_input = where
        got = expect_array(peft(*args), want.shape, np.float64, "the peft model's output")
        _close(got, want, "output", msg("peft_lora_outputs.peft_model_s"), ctx.last_input)
        plain = peft.store("merge_and_unload")
        after = plain.state_dict()
        if set(after) != set(merged):
            fail("peft_lora_outputs.merge_unload_give",
                 expected=", ".join(sorted(merged)[:3]), got=", ".join(sorted(set(after) ^ set(merged))[:3]))
        for k, w in merged.items():
            _close(after[k], w, k, msg("peft_lora_outputs.merge_unload_k", k=k))


@checks.behaviour("peft_lora_invalid",
                  "peft_lora raises ValueError when no nn.Linear matches target_names (an nn.Embedding of that "
                  "name does not count)", points=1, uses=("peft_lora",),
                  zh="没有任何 nn.Linear 与 target_names 匹配时 peft_lora 抛出 ValueError（同名的 nn.Embedding 不算）")
def _(ctx):
    init = _init(ctx.rng)
    h = _model(ctx, "MiniGPT", init, _weights(ctx.rng, init, "gpt"))
    for targets in (["tok_emb"], ["nothing_by_this_name"]):
        ctx.last_input = f"peft_lora(MiniGPT, {targets}, r=2, alpha=2.0)"
        try:
            ctx.call_raw("peft_lora", h, targets, 2, 2.0)
        except StudentError as err:
            if err.not_implemented:
                raise
            if not err.is_a("ValueError"):  # peft's NoMatchingPeftModuleError is one
                fail("peft_lora_invalid.peft_lora_raised", type=err.type, message_=err.message[:80], targets=targets,
                     frames=err.frames)
            continue
        fail("peft_lora_invalid.peft_lora_accepted", targets=targets)
