"""Checks for `alignment`: the chat format, SFT examples and batches, sequence log-probabilities,
the reward-model, DPO and GRPO/PPO losses, and DPO training on a shipped preference task.

- ``build_sft_example`` takes a Python callable ``encode``; a check cannot send a function, so
  it sends ``char_encoder(vocab)`` (a tagged value the worker turns into
  ``grader.protocol.values.CharEncoder``: longest match over the vocabulary, markers as single
  tokens). One compare case uses a vocabulary with tokens that straddle the turn's pieces
  (``"<|end|>\\n"``), where only the contract's three separate ``encode`` calls give the
  reference's ids.
- The losses are compared with the reference on B != L != V, uneven masks (so per-sequence
  and pooled means differ), both signs of advantages and ratios on both sides of the clip
  range; F64 / F32 tolerances (grader/checks.py). Gradients are compared with numpy formulas
  (``sequence_logprob``: onehot - softmax at counted positions; ``dpo_loss``:
  ∓β·σ(-β·z)/B), and DPO's rewards must come back detached. ``group_advantages`` is compared
  by value only: its gradient is no part of the contract (advantages are constants in GRPO),
  and where the std is 0 or undefined (equal rewards, groups of one) a correct ``var().sqrt()``
  or ``nan_to_num`` has a NaN gradient where torch.std's is finite.
- ``dpo_train`` runs on ``grader/data/alignment.npz`` (built by
  ``grader/data/make_alignment_data.py``, read with ``np.load(allow_pickle=False)``): an
  instruction-tuned MiniGPT that answers a set of letters with a random order of them, and
  256 training / 256 held-out pairs in which the alphabetical order is preferred (half of the
  rejected answers are near misses, one adjacent pair swapped). Held-out preference accuracy
  = the fraction of pairs whose implicit reward β·(log π - log π_ref), computed here in
  float64 from the two models' logits, ranks chosen strictly above rejected. Measured (see
  the builder; CPU time, one thread): the reference (2 epochs) reaches 0.965-0.988 over seeds
  0-4 in 0.17 s; no training gives 0.000, chosen/rejected swapped 0.016, random noise on the
  weights 0.3-0.5. Pass mark 0.90 within 60 s (the reference uses a tiny fraction of that).
  The short runs of the behaviour checks train 1 epoch on the first 40 pairs (two batches of
  the reference's 32, so that the seed decides which pairs go together).
  The student's MiniGPT (exercise `models`) is built in the worker and loaded with the
  checkpoint, for the policy and for the reference.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from grader.checks import (
    Case,
    CharEncoder,
    Checks,
    char_encoder,
    expect_array,
    fail,
    noncontig,
    plain,
    to_wire,
)
from grader.messages import msg
from grader.strategies import normal

checks = Checks("alignment")

ROLES = ("system", "user", "assistant")
MARKERS = ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CONTENTS = ["hello", "what is a word vector?", "词向量是什么？", "用向量表示词。", "a {b} c", "", "ok.",
            "sort: dbf", "bdf", "hi!"]
CHARS = sorted(set("\nabcdefghijklmnopqrstuvwxyz ?.!" + "".join(CONTENTS)))
TEMPLATE = "<|{role}|>\n{content}<|end|>\n"


def _vocab(rng: np.random.Generator, extra: tuple[str, ...] = ()) -> dict[str, int]:
    """Markers and characters (plus ``extra`` multi-character tokens) with shuffled ids."""
    tokens = MARKERS + CHARS + list(extra)
    ids = rng.permutation(len(tokens))
    return {t: int(i) for t, i in zip(tokens, ids)}


def _conversation(rng: np.random.Generator, n: int, system: bool = False) -> list[dict]:
    turns = [{"role": "system", "content": str(rng.choice(CONTENTS))}] if system else []
    for i in range(n):
        turns.append({"role": "user" if i % 2 == 0 else "assistant", "content": str(rng.choice(CONTENTS))})
    return turns


def _format(messages: list[dict], add_generation_prompt: bool = False) -> str:
    text = "".join(TEMPLATE.format(role=m["role"], content=m["content"]) for m in messages)
    return text + "<|assistant|>\n" if add_generation_prompt else text


def _expected_example(messages: list[dict], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The contract's (ids, labels), from the three encode calls per turn."""
    encode = CharEncoder(vocab)
    want_ids: list[int] = []
    want_labels: list[int] = []
    for m in messages:
        opening = encode(f"<|{m['role']}|>\n")
        content = encode(m["content"] + "<|end|>")
        newline = encode("\n")
        want_ids += opening + content + newline
        learned = content if m["role"] == "assistant" else [-100] * len(content)
        want_labels += [-100] * len(opening) + learned + [-100] * len(newline)
    return np.array(want_ids, dtype=np.int64), np.array(want_labels, dtype=np.int64)


# --- format_chat -----------------------------------------------------------------------------------


@checks.compare("format_chat_reference",
                "format_chat matches the reference (CHAT_TEMPLATE per turn; the generation prompt)", points=2,
                fn="format_chat", zh="format_chat 与参考一致（每一轮套用 CHAT_TEMPLATE；生成提示）")
def _(rng):
    yield Case(args=(_conversation(rng, 1),))
    yield Case(args=(_conversation(rng, 2, system=True),))
    yield Case(args=(_conversation(rng, 1),), kwargs={"add_generation_prompt": True})
    yield Case(args=(_conversation(rng, 4),), kwargs={"add_generation_prompt": bool(rng.random() < 0.5)})
    yield Case(args=([{"role": "user", "content": "a {b} c"}, {"role": "assistant", "content": "词向量"}],),
               label=msg("format_chat_reference.case_content_braces_chinese_characters"))
    yield Case(args=([],), kwargs={"add_generation_prompt": True},
               label=msg("format_chat_reference.case_no_messages_generation_prompt"))


@checks.behaviour("format_chat_behaviour",
                  "format_chat: an unknown role raises ValueError; messages are not modified; CHAT_TEMPLATE "
                  "is the course's format", points=1,
                  uses=("format_chat",),
                  zh="format_chat：未知的角色抛出 ValueError；不修改 messages；CHAT_TEMPLATE 是课程规定的格式")
def _(ctx):
    messages = _conversation(ctx.rng, 3, system=True)
    ctx.last_input = f"format_chat({messages!r})"[:200]
    reply = ctx.request({"op": "call", "target": {"module": "alignment", "attr": "format_chat"},
                         "args": to_wire([messages]), "kwargs": {}, "echo": True, "banned": []})
    if not (isinstance(reply, dict) and isinstance(reply.get("args"), list) and len(reply["args"]) == 1):
        fail("format_chat_behaviour.malformed_reply")
    if reply["args"][0] != messages:
        fail("format_chat_behaviour.format_chat_modified")
    if reply["result"] != _format(messages):
        fail("format_chat_behaviour.format_chat_follow", expected=repr(_format(messages))[:100],
             got=repr(reply["result"])[:100])
    template = ctx.request({"op": "attr", "target": {"module": "alignment", "attr": "CHAT_TEMPLATE"}})
    if template != TEMPLATE:
        fail("format_chat_behaviour.chat_template_changed",
             expected=repr(TEMPLATE), got=repr(template)[:80])
    for role in ("tool", "Assistant", "bot"):
        bad = [{"role": "user", "content": "hi"}, {"role": role, "content": "hello"}]
        ctx.last_input = f"format_chat({bad!r})"
        ctx.raises("ValueError", "format_chat", bad)


# --- build_sft_example -----------------------------------------------------------------------------


@checks.compare("build_sft_example_reference",
                "build_sft_example matches the reference (three encode calls per turn; labels only on the "
                "assistant's content and <|end|>)", points=3,
                fn="build_sft_example",
                zh="build_sft_example 与参考一致（每轮三次 encode；只在助手的内容与 <|end|> 上有标签）")
def _(rng):
    yield Case(args=(_conversation(rng, 2), char_encoder(_vocab(rng))),
               label=msg("build_sft_example_reference.case_one_user_turn_one"))
    yield Case(args=(_conversation(rng, 4, system=True), char_encoder(_vocab(rng))),
               label=msg("build_sft_example_reference.case_system_turn_two_exchanges"))
    yield Case(args=([{"role": "user", "content": "hi!"}, {"role": "assistant", "content": ""}],
                     char_encoder(_vocab(rng))),
                     label=msg("build_sft_example_reference.case_empty_assistant_answer_only"))
    yield Case(args=(_conversation(rng, 3), char_encoder(_vocab(rng))))
    crossing = _vocab(rng, extra=("<|end|>\n", "!<|end|>"))
    yield Case(args=([{"role": "user", "content": "sort: dbf"}, {"role": "assistant", "content": "bdf"},
                      {"role": "user", "content": "hi!"}, {"role": "assistant", "content": "hello"}],
                     char_encoder(crossing)),
               label=msg("build_sft_example_reference.case_encoder_tokens_end_n"))
    yield Case(args=(_conversation(rng, 5, system=True), char_encoder(_vocab(rng))))


ASCII = "abcdefghijklmnopqrstuvwxyz ?.!"


@checks.property("build_sft_example_labels",
                 "build_sft_example: ids = encode(format_chat(messages)) for a character encoder; labels = ids "
                 "exactly on the assistants' content + <|end|>, -100 elsewhere; Long 1-D; unknown role "
                 "raises ValueError", points=2,
                 uses=("build_sft_example",),
                 zh="build_sft_example：字符级编码时 ids = encode(format_chat(messages))；labels 恰好在助手的"
                    "内容与 <|end|> 上等于 ids，其余为 -100；一维 Long；未知角色抛出 ValueError")
def _(ctx):
    vocab = _vocab(np.random.default_rng(ctx.seed % 2**32))
    messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(ROLES),
                                               "content": st.text(ASCII, max_size=6)}), min_size=1, max_size=4)

    @ctx.given(messages)
    def prop(msgs):
        out = ctx.call("build_sft_example", msgs, char_encoder(vocab))
        if not (isinstance(out, tuple) and len(out) == 2):
            fail("build_sft_example_labels.build_sft_example")
        want_ids, want_labels = _expected_example(msgs, vocab)
        ids = expect_array(out[0], want_ids.shape, np.int64, "ids")
        labels = expect_array(out[1], want_labels.shape, np.int64, "labels")
        if not np.array_equal(ids, want_ids):
            fail("build_sft_example_labels.ids_differ_encode", expected=str(want_ids.tolist())[:100],
                 got=str(ids.tolist())[:100])
        counted, want = labels != -100, want_labels != -100
        if np.any(counted & ~want):
            fail("build_sft_example_labels.some_labels_100",
                 expected=str(want_labels.tolist())[:100], got=str(labels.tolist())[:100])
        if np.any(want & ~counted):
            fail("build_sft_example_labels.some_tokens_assistant",
                 expected=str(want_labels.tolist())[:100], got=str(labels.tolist())[:100])
        if not np.array_equal(labels[counted], ids[counted]):
            fail("build_sft_example_labels.labels_equal_ids", expected=str(want_labels.tolist())[:100],
                 got=str(labels.tolist())[:100])

    prop()
    bad = [{"role": "user", "content": "hi"}, {"role": "robot", "content": "ok"}]
    ctx.last_input = f"build_sft_example({bad!r}, encode)"
    ctx.raises("ValueError", "build_sft_example", bad, char_encoder(vocab))


# --- collate ---------------------------------------------------------------------------------------


def _examples(rng: np.random.Generator, lengths: list[int], V: int = 20) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for n in lengths:
        ids = rng.integers(1, V, size=n).astype(np.int64)
        labels = ids.copy()
        labels[: int(rng.integers(0, n))] = -100                          # a prompt of -100
        out.append((ids, labels))
    return out


@checks.compare("collate_reference",
                "collate matches the reference (right padding with pad_id; labels -100 and mask False on padding)",
                points=2, fn="collate",
                zh="collate 与参考一致（向右补 pad_id；padding 处 labels 为 -100，mask 为 False）")
def _(rng):
    yield Case(args=(_examples(rng, [5, 2, 7]), 0))
    yield Case(args=(_examples(rng, [3, 6]), int(rng.integers(2, 20))),
               label=msg("collate_reference.case_nonzero_pad_id"))
    yield Case(args=(_examples(rng, [4, 4, 4, 4]), 1), label=msg("collate_reference.case_all_same_length_no"))
    yield Case(args=(_examples(rng, [1, 6, 3]), int(rng.integers(2, 20))))
    yield Case(args=(_examples(rng, [6]), 0), label=msg("collate_reference.case_one_example"))


# --- sequence_logprob ------------------------------------------------------------------------------


def _sizes(rng: np.random.Generator) -> tuple[int, int, int]:
    B = int(rng.integers(2, 4))
    L = int(rng.choice([v for v in range(5, 9) if v != B]))
    V = int(rng.choice([v for v in range(6, 12) if v not in (B, L)]))
    return B, L, V


def _lp_batch(rng: np.random.Generator, B: int, L: int, V: int, dtype=np.float64, pad: int = 0):
    """logits, ids and collate-like labels: a prompt of -100, the response (labels = ids), padding."""
    logits = normal(rng, (B, L, V), dtype, scale=2.0)
    ids = rng.integers(0, V, size=(B, L)).astype(np.int64)
    labels = ids.copy()
    for b in range(B):
        length = L if b == 0 else int(rng.integers(3, L + 1))
        prompt = int(rng.integers(1, length))
        ids[b, length:] = pad
        labels[b, :prompt] = -100
        labels[b, length:] = -100
    return logits, ids, labels


@checks.compare("sequence_logprob_reference",
                "sequence_logprob matches the reference (logits at t score ids at t+1; the SUM over "
                "counted tokens)", points=3,
                fn="sequence_logprob",
                zh="sequence_logprob 与参考一致（位置 t 的 logits 给第 t+1 个词打分；对计数的词求和）")
def _(rng):
    B, L, V = _sizes(rng)
    yield Case(args=_lp_batch(rng, B, L, V))
    B, L, V = _sizes(rng)
    logits, ids, labels = _lp_batch(rng, B, L, V)
    yield Case(args=(noncontig(logits), ids, labels))
    B, L, V = _sizes(rng)
    logits, ids, _ = _lp_batch(rng, B, L, V)
    yield Case(args=(logits, ids, ids.copy()), label=msg("sequence_logprob_reference.case_every_label_counts_labels"))
    B, L, V = _sizes(rng)
    logits, ids, labels = _lp_batch(rng, B, L, V)
    labels[1] = -100
    yield Case(args=(logits, ids, labels), label=msg("sequence_logprob_reference.case_row_1_counts_nothing"))
    B, L, V = _sizes(rng)
    yield Case(args=_lp_batch(rng, B, L, V, np.float32))


@checks.behaviour("sequence_logprob_behaviour",
                  "sequence_logprob: gradients flow into the logits (onehot - softmax at counted positions), "
                  "the dtype is kept, the inputs are not modified", points=1,
                  uses=("sequence_logprob",),
                  zh="sequence_logprob：梯度能传回 logits（计数位置上为 onehot - softmax）；保持 dtype；不修改输入")
def _(ctx):
    rng = ctx.rng
    B, L, V = 3, 6, 7
    for dtype in (np.float64, np.float32):
        logits, ids, labels = _lp_batch(rng, B, L, V, dtype)
        ctx.last_input = f"sequence_logprob({np.dtype(dtype).name} logits [{B}, {L}, {V}], ids, labels)"
        out = expect_array(ctx.call_keep_inputs("sequence_logprob", logits, ids, labels), (B,), dtype,
                           "sequence_logprob(...)")
        if not np.all(np.isfinite(out)) or np.any(out > 0):
            fail("sequence_logprob_behaviour.log_probabilities_finite", got=str(out))
    logits, ids, labels = _lp_batch(rng, B, L, V)
    w = rng.standard_normal(B)
    ctx.last_input = f"d(Σ_b w_b · sequence_logprob(logits [{B}, {L}, {V}], ids, labels)[b]) / d logits"
    res = ctx.request({"op": "grad", "target": {"module": "alignment", "attr": "sequence_logprob"},
                       "args": to_wire([logits, ids, labels]), "kwargs": {}, "wrt": [0],
                       "upstream": to_wire(w), "banned": []})
    grads = plain(res).get("inputs") if isinstance(res, dict) else None
    got = grads[0] if grads else None
    if not isinstance(got, np.ndarray):
        fail("sequence_logprob_behaviour.gradient_reached_logits")
    shifted = logits[:, :-1] - logits[:, :-1].max(-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    onehot = np.eye(V)[ids[:, 1:]]
    counted = (labels[:, 1:] != -100)[..., None]
    want = np.zeros_like(logits)
    want[:, :-1] = w[:, None, None] * counted * (onehot - probs)
    ctx.close(got, want, "grad(logits)")


# --- reward_model_loss -----------------------------------------------------------------------------


@checks.compare("reward_model_loss_reference",
                "reward_model_loss matches the reference (mean of -log σ(chosen - rejected - margin))", points=2,
                fn="reward_model_loss", zh="reward_model_loss 与参考一致（-log σ(chosen - rejected - margin) 的平均）")
def _(rng):
    B = int(rng.integers(3, 7))
    yield Case(args=(normal(rng, (B,), scale=2.0), normal(rng, (B,), scale=2.0)))
    B = int(rng.integers(3, 7))
    yield Case(args=(normal(rng, (B,), scale=2.0), normal(rng, (B,), scale=2.0), np.abs(normal(rng, (B,)))))
    B = int(rng.integers(3, 7))
    yield Case(args=(normal(rng, (B,)), normal(rng, (B,))), kwargs={"margin": rng.random(B) + 0.5})
    B = int(rng.integers(3, 7))
    yield Case(args=(normal(rng, (B,), np.float32, 2.0), normal(rng, (B,), np.float32, 2.0),
                     np.abs(normal(rng, (B,), np.float32))))


@checks.property("reward_model_loss_stable",
                 "reward_model_loss is finite and right for large differences (±1000 in float64, ±100 in float32)",
                 points=2, uses=("reward_model_loss",),
                 zh="reward_model_loss 在差值很大时（float64 ±1000，float32 ±100）仍然有限且正确")
def _(ctx):
    for dtype, big in ((np.float64, 1000.0), (np.float32, 100.0)):
        chosen = np.array([big, -big, 0.5, 3.0], dtype=dtype)
        rejected = np.array([-big, big, 0.0, -2.0], dtype=dtype)
        margin = np.array([0.0, 0.0, 0.25, 1.0], dtype=dtype)
        ctx.last_input = f"reward_model_loss(chosen={chosen.tolist()}, rejected={rejected.tolist()}, margin)"
        out = expect_array(ctx.call("reward_model_loss", chosen, rejected, margin), (), dtype,
                           "reward_model_loss(...)")
        z = (chosen - rejected - margin).astype(np.float64)
        want = float(np.logaddexp(0.0, -z).mean())
        if not np.isfinite(out):
            fail("reward_model_loss_stable.loss_finite_chosen", got=str(float(out)))
        if abs(float(out) - want) > 1e-4 * max(1.0, abs(want)):
            fail("reward_model_loss_stable.loss_wrong_large", expected=f"{want:.6g}", got=f"{float(out):.6g}")

    @ctx.given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=1, max_size=5))
    def prop(pairs):
        c, r = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        out = expect_array(ctx.call("reward_model_loss", c, r), (), np.float64, "reward_model_loss(...)")
        want = float(np.logaddexp(0.0, -(c - r)).mean())
        if not (np.isfinite(out) and abs(float(out) - want) <= 1e-6 * max(1.0, want)):
            fail("reward_model_loss_stable.reward_model_loss",
                 expected=f"{want:.6g}", got=f"{float(out):.6g}")

    prop()


# --- dpo_loss --------------------------------------------------------------------------------------


def _logps(rng: np.random.Generator, B: int, dtype=np.float64) -> tuple[np.ndarray, ...]:
    """Sequence log-probabilities: negative, the policy's near the reference's."""
    ref = -rng.uniform(5, 30, size=(2, B))
    pol = ref + rng.standard_normal((2, B)) * 3
    return pol[0].astype(dtype), pol[1].astype(dtype), ref[0].astype(dtype), ref[1].astype(dtype)


@checks.compare("dpo_loss_reference",
                "dpo_loss matches the reference (loss, chosen_rewards, rejected_rewards)", points=3,
                fn="dpo_loss", zh="dpo_loss 与参考一致（loss、chosen_rewards、rejected_rewards）")
def _(rng):
    yield Case(args=_logps(rng, int(rng.integers(3, 7))))
    yield Case(args=_logps(rng, int(rng.integers(3, 7))), kwargs={"beta": 0.5})
    yield Case(args=(*_logps(rng, 4), 2.0))
    yield Case(args=_logps(rng, int(rng.integers(3, 7)), np.float32), kwargs={"beta": 0.25})
    pc, pr, rc, rr = _logps(rng, 3)
    yield Case(args=(pc + 400.0, pr - 400.0, rc, rr), kwargs={"beta": 1.0},
               label=msg("dpo_loss_reference.case_large_differences"))


@checks.property("dpo_loss_gradients",
                 "dpo_loss: the loss carries gradients (∓β·σ(-β·z)/B into each input), the returned rewards are "
                 "detached", points=2,
                 uses=("dpo_loss",),
                 zh="dpo_loss：损失带有梯度（对每个输入为 ∓β·σ(-β·z)/B），返回的奖励已 detach")
def _(ctx):
    rng = ctx.rng
    B, beta = 5, 0.5
    args = _logps(rng, B)
    ctx.last_input = f"dpo_loss(4 × float64[{B}] requiring grad, beta={beta})"
    h = ctx.store("dpo_loss", *({"$param": a} for a in args), beta=beta)
    kind = h.info.get("type") if isinstance(h.info, dict) else None
    if kind != "tuple":
        fail("dpo_loss_gradients.dpo_loss_return", got=str(kind)[:60])
    flags = [h.get(f"{i}.requires_grad") for i in range(3)]
    if flags[0] is not True:
        fail("dpo_loss_gradients.loss_require_grad")
    if flags[1] is not False or flags[2] is not False:
        fail("dpo_loss_gradients.chosen_rewards_rejected")
    res = ctx.request({"op": "grad", "target": {"module": "alignment", "attr": "dpo_loss"},
                       "args": to_wire(list(args)), "kwargs": {"beta": beta}, "wrt": [0, 1, 2, 3],
                       "upstream": to_wire([np.array(1.0), None, None]), "banned": []})
    grads = plain(res).get("inputs") if isinstance(res, dict) else None
    pc, pr, rc, rr = args
    z = (pc - rc) - (pr - rr)
    g = beta / (1.0 + np.exp(beta * z)) / B                              # β·σ(-β·z)/B
    for i, (name, sign) in enumerate((("policy_chosen", -1), ("policy_rejected", 1), ("ref_chosen", 1),
                                      ("ref_rejected", -1))):
        got = grads[i] if grads and i < len(grads) else None
        if not isinstance(got, np.ndarray):
            fail("dpo_loss_gradients.gradient_reached_name", name=name)
        ctx.close(got, sign * g, f"grad({name})")


# --- group_advantages ------------------------------------------------------------------------------


@checks.compare("group_advantages_reference",
                "group_advantages matches the reference (minus the group mean, over the unbiased group std + eps; "
                "0 for groups of one)", points=2,
                fn="group_advantages", backward=False,  # advantages are constants in GRPO: values only
                zh="group_advantages 与参考一致（减去组内平均，除以组内无偏标准差 + eps；单个回答的组为 0）")
def _(rng):
    yield Case(args=(normal(rng, (12,), scale=2.0), 4))
    yield Case(args=(normal(rng, (6,), scale=2.0), 3), kwargs={"normalize_std": False})
    rewards = normal(rng, (8,))
    rewards[2:4] = 1.5
    yield Case(args=(rewards, 2), label=msg("group_advantages_reference.case_group_whose_rewards_are"))
    yield Case(args=(normal(rng, (5,)), 1), label=msg("group_advantages_reference.case_groups_one_answer_advantage"))
    yield Case(args=(normal(rng, (9,), np.float32, 3.0), 3), kwargs={"eps": 0.01})
    yield Case(args=(rng.integers(0, 2, size=10).astype(np.float64), 5),
               label=msg("group_advantages_reference.case_0_1_rewards"))


@checks.behaviour("group_advantages_behaviour",
                  "group_advantages: N % group_size != 0 raises ValueError; groups of one give exactly 0; dtype "
                  "kept; rewards not modified", points=1,
                  uses=("group_advantages",),
                  zh="group_advantages：N % group_size != 0 抛出 ValueError；单个回答的组恰为 0；保持 dtype；"
                     "不修改 rewards")
def _(ctx):
    rng = ctx.rng
    for dtype in (np.float64, np.float32):
        r = normal(rng, (6,), dtype)
        ctx.last_input = f"group_advantages({np.dtype(dtype).name} rewards [6], group_size=3)"
        out = expect_array(ctx.call_keep_inputs("group_advantages", r, 3), (6,), dtype, "group_advantages(...)")
        if not np.allclose(out.reshape(2, 3).sum(-1), 0, atol=1e-5):
            fail("group_advantages_behaviour.advantages_group_sum", got=str(out))
        ctx.last_input = f"group_advantages({np.dtype(dtype).name} rewards [6], group_size=1)"
        out = expect_array(ctx.call("group_advantages", r, 1), (6,), dtype, "group_advantages(...)")
        if np.isnan(out).any():
            fail("group_advantages_behaviour.groups_one_answer")
        if np.any(out != 0):
            fail("group_advantages_behaviour.groups_one_answer_2", got=str(out))
    for n, g in ((7, 2), (6, 4), (5, 3)):
        ctx.last_input = f"group_advantages(rewards [{n}], group_size={g})"
        ctx.raises("ValueError", "group_advantages", normal(rng, (n,)), g)


# --- ppo_clip_loss ---------------------------------------------------------------------------------


def _ppo(rng: np.random.Generator, B: int, L: int, dtype=np.float64):
    old = -rng.uniform(0.5, 3.0, size=(B, L))
    logp = old + rng.standard_normal((B, L)) * 0.6                   # ratios roughly 0.2 .. 5
    adv = rng.standard_normal(B) * 2
    adv[0], adv[1] = abs(adv[0]) + 0.1, -abs(adv[1]) - 0.1            # both signs
    mask = rng.random((B, L)) < 0.7
    mask[0] = True                                                    # uneven counts: pooled != per-sequence
    mask[1, 2:] = False
    mask[1, :2] = True
    return logp.astype(dtype), old.astype(dtype), adv.astype(dtype), mask


@checks.compare("ppo_clip_loss_reference",
                "ppo_clip_loss matches the reference (min of r·A and clip(r)·A, pooled over masked-in tokens)",
                points=3, fn="ppo_clip_loss",
                zh="ppo_clip_loss 与参考一致（r·A 与 clip(r)·A 取小，对被选中的词整体平均）")
def _(rng):
    yield Case(args=_ppo(rng, 3, 6))
    yield Case(args=_ppo(rng, 4, 5), kwargs={"clip_eps": 0.1})
    yield Case(args=_ppo(rng, 2, 7, np.float32))
    logp, old, adv, mask = _ppo(rng, 3, 4)
    yield Case(args=(logp, old, adv, np.zeros_like(mask)), label=msg("ppo_clip_loss_reference.case_no_token_masked_0"))
    yield Case(args=_ppo(rng, 5, 3), kwargs={"clip_eps": 0.3})


@checks.behaviour("ppo_clip_loss_behaviour",
                  "ppo_clip_loss: clipped above for A > 0 and below for A < 0, tokens outside the mask do not "
                  "matter, exactly 0.0 when no token is masked in, dtype kept", points=2,
                  uses=("ppo_clip_loss",),
                  zh="ppo_clip_loss：A > 0 时在上方裁剪、A < 0 时在下方裁剪；mask 之外的词不影响结果；"
                     "没有词被选中时恰为 0.0；保持 dtype")
def _(ctx):
    eps = 0.2
    one = np.ones((1, 1), dtype=bool)
    cases = (  # (ratio, advantage, expected loss, what a mistake there means)
        (2.0, 1.0, -(1 + eps), "clip_above"),
        (0.5, -1.0, (1 - eps), "clip_below"),
        (0.5, 1.0, -0.5, "min_above"),
        (2.0, -1.0, 2.0, "min_below"),
    )
    for ratio, a, want, why in cases:
        ctx.last_input = f"ppo_clip_loss(logp=log {ratio}, old_logp=0, advantages=[{a}], mask=[[True]], clip_eps={eps})"
        out = expect_array(ctx.call("ppo_clip_loss", np.full((1, 1), math.log(ratio)), np.zeros((1, 1)),
                                    np.array([a]), one, clip_eps=eps), (), np.float64, "ppo_clip_loss(...)")
        if abs(float(out) - want) > 1e-9:
            fail(f"ppo_clip_loss_cases.{why}", expected=f"{want:.4g}", got=f"{float(out):.4g}")
    rng = ctx.rng
    logp, old, adv, mask = _ppo(rng, 3, 5)
    ctx.last_input = "ppo_clip_loss(logp, old_logp, advantages, mask) with logp changed where mask is False"
    base = float(expect_array(ctx.call_keep_inputs("ppo_clip_loss", logp, old, adv, mask), (), np.float64,
                              "ppo_clip_loss(...)"))
    changed = np.where(mask, logp, logp + 5.0)
    other = float(expect_array(ctx.call("ppo_clip_loss", changed, old, adv, mask), (), np.float64,
                               "ppo_clip_loss(...)"))
    if abs(base - other) > 1e-9 * max(1.0, abs(base)):
        fail("ppo_clip_loss_behaviour.tokens_where_mask",
             expected=f"{base:.6g}", got=f"{other:.6g}")
    for dtype in (np.float64, np.float32):
        ctx.last_input = f"ppo_clip_loss({np.dtype(dtype).name} [3, 5], mask all False)"
        out = expect_array(ctx.call("ppo_clip_loss", logp.astype(dtype), old.astype(dtype), adv.astype(dtype),
                                    np.zeros_like(mask)), (), dtype, "ppo_clip_loss(...)")
        if math.isnan(float(out)):
            fail("ppo_clip_loss_behaviour.ppo_clip_loss")
        if float(out) != 0.0:
            fail("ppo_clip_loss_behaviour.ppo_clip_loss_2", out=float(out))


# --- dpo_train -------------------------------------------------------------------------------------

DATA = Path(__file__).resolve().parent.parent / "data" / "alignment.npz"
THRESHOLD = 0.90
BUDGET_S = 60
BETA = 0.1
CONFIG_KEYS = ("vocab_size", "max_len", "d_model", "n_heads", "n_layers", "d_ff")


@lru_cache(maxsize=1)
def task() -> tuple[dict[str, int], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(config, pretrained state_dict, data arrays), read without pickle."""
    with np.load(DATA, allow_pickle=False) as f:
        config = {k[len("config/"):]: int(f[k]) for k in f.files if k.startswith("config/")}
        state = {k[len("model/"):]: f[k] for k in f.files if k.startswith("model/")}
        data = {k: f[k] for k in f.files if "/" not in k and k != "vocab"}
    return config, state, data


def _batch(split: str, side: str, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, _, data = task()
    return tuple(data[f"{split}_{side}_{k}"][:n] for k in ("ids", "labels", "mask"))


def _pretrained(ctx):
    """The student's MiniGPT loaded with the shipped checkpoint (kept in the worker)."""
    config, state, _ = task()
    gpt = ctx.new_from("models", "MiniGPT", *(config[k] for k in CONFIG_KEYS))
    gpt.load_state_dict(state)
    return gpt


def _logprobs(model, ids: np.ndarray, labels: np.ndarray, what: str) -> np.ndarray:
    """Sequence log-probabilities in float64, from the model's logits (computed here)."""
    config, _, _ = task()
    logits = expect_array(model(ids), ids.shape + (config["vocab_size"],), what=f"{what}(ids)")
    if logits.dtype.kind != "f" or not np.all(np.isfinite(logits)):
        fail("logprobs.what_s_logits", what=what)
    x = logits[:, :-1].astype(np.float64)
    logp = x - x.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    token = np.take_along_axis(logp, ids[:, 1:, None], -1)[..., 0]
    return np.where(labels[:, 1:] != -100, token, 0.0).sum(-1)


def preference_accuracy(policy, reference) -> tuple[float, float, float]:
    """(accuracy, ties, reversed): the fractions of held-out pairs whose implicit reward ranks
    chosen strictly above rejected, equal, and strictly below."""
    rewards = []
    for side in ("chosen", "rejected"):
        ids, labels, _ = _batch("test", side)
        rewards.append(BETA * (_logprobs(policy, ids, labels, "trained policy")
                               - _logprobs(reference, ids, labels, "reference")))
    chosen, rejected = rewards
    return float(np.mean(chosen > rejected)), float(np.mean(chosen == rejected)), float(np.mean(chosen < rejected))


def _short_run(ctx, policy, reference, n: int = 40, **kwargs):
    kwargs = {"epochs": 1, **kwargs}
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    ctx.last_input = f"dpo_train(pretrained policy, reference, first {n} training pairs, {args})"
    return ctx.store("dpo_train", policy, reference, _batch("train", "chosen", n), _batch("train", "rejected", n),
                     **kwargs)


@checks.behaviour("dpo_train_leaves_inputs",
                  "dpo_train trains a copy: the policy and the reference it was given keep their values and "
                  "requires_grad flags, and no reference parameter gets a .grad", points=1,
                  uses=("dpo_train",), timeout=BUDGET_S,
                  zh="dpo_train 训练副本：传入的策略与参考模型的参数值与 requires_grad 都不变，"
                     "参考模型的参数没有 .grad")
def _(ctx):
    _, state, _ = task()
    policy, reference = _pretrained(ctx), _pretrained(ctx)
    trained = _short_run(ctx, policy, reference)
    if trained.same("", policy):
        fail("dpo_train_leaves_inputs.dpo_train_returned")
    for name, model in (("policy", policy), ("reference", reference)):
        after = model.state_dict()
        changed = [k for k in state if k not in after or not np.array_equal(np.asarray(after[k]), state[k])]
        if changed:
            fail(f"dpo_train_leaves_inputs.{name}_changed", got="changed: " + ", ".join(changed[:4]))
        frozen = [n for n, _, grad, _ in model.params() if not grad]
        if frozen:
            fail("dpo_train_leaves_inputs.requires_grad_flags", name=name,
                 got="requires_grad False: " + ", ".join(frozen[:4]))
    with_grad = [n for n, _, _, _ in reference.params() if reference.get(f"{n}.grad") is not None]
    if with_grad:
        fail("dpo_train_leaves_inputs.reference_s_parameters",
             got=".grad set on: " + ", ".join(with_grad[:4]))


@checks.behaviour("dpo_train_seed",
                  "dpo_train follows its seed: the same seed gives the same model, another seed another one", points=1,
                  uses=("dpo_train",), timeout=BUDGET_S,
                  zh="dpo_train 遵循 seed：相同的 seed 得到相同的模型，不同的 seed 得到不同的模型")
def _(ctx):
    policy, reference = _pretrained(ctx), _pretrained(ctx)
    ids = _batch("test", "chosen", 16)[0]
    runs = [expect_array(_short_run(ctx, policy, reference, seed=s)(ids), what="trained policy(ids)")
            for s in (1, 1, 2)]
    ctx.last_input = "dpo_train(..., first 40 training pairs, epochs=1, seed=s) for s = 1, 1, 2"
    if not np.array_equal(runs[0], runs[1]):
        fail("dpo_train_seed.two_runs_seed")
    if np.array_equal(runs[0], runs[2]):
        fail("dpo_train_seed.seed_1_seed")


@checks.quality("dpo_train_quality",
                f"dpo_train reaches >= {THRESHOLD:.2f} held-out preference accuracy (256 pairs) within {BUDGET_S} s",
                points=3, uses=("dpo_train", "sequence_logprob", "dpo_loss"), timeout=BUDGET_S,
                zh=f"dpo_train 在 256 个留出的偏好对上准确率至少 {THRESHOLD:.2f}，限时 {BUDGET_S} 秒")
def _(ctx):
    policy, reference = _pretrained(ctx), _pretrained(ctx)
    ctx.last_input = ("dpo_train(pretrained policy, reference (the same weights), 256 training pairs "
                      "[256, 20], default beta, epochs, lr, seed=0); accuracy on 256 held-out pairs")
    t0 = time.monotonic()
    trained = ctx.store("dpo_train", policy, reference, _batch("train", "chosen"), _batch("train", "rejected"),
                        seed=0)
    took = time.monotonic() - t0
    info = trained.info if isinstance(trained.info, dict) else {}
    if info.get("module") is not True:
        fail("dpo_train_quality.dpo_train_return", got=str(info.get("type"))[:60])
    acc, ties, wrong = preference_accuracy(trained, reference)
    ctx.reached(acc, THRESHOLD, "held-out preference accuracy", "留出偏好准确率", took, BUDGET_S, digits=3)
    result = f"{acc:.3f} in {took:.1f} s (pass mark {THRESHOLD:.2f}, budget {BUDGET_S} s)"
    if acc < THRESHOLD:
        why = (msg("dpo_train_quality.why_most_pairs_get") if ties > 0.5 else
               msg("dpo_train_quality.why_policy_prefers_rejected") if wrong > 0.5 else
               msg("dpo_train_quality.why_loss_going_down"))
        fail("dpo_train_quality.dpo_trained_policy", why=why,
             expected=f">= {THRESHOLD:.2f} (reference: about 0.97 in under a second; before training: 0.00)",
             got=result)
