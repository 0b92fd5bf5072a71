"""Feedback that points at the cause: a failure that comes from a function another exercise
(or the same one) builds on says "fix X first" instead of sending the student into the wrong
file; an unfinished function of another exercise is reported from there; the failing input is
in the student's terms; one syntax error is reported once; the same seed gives the same report."""

from __future__ import annotations

import html
import json

import pytest

from grader.cli import all_hints
from grader.formats import FORMATS, render_format
from grader.reports import to_json
from tests.harness import EXERCISES, ROOT, grade, submission_from_reference

NO_SCALE = (ROOT / "mistakes" / "attention" / "sdpa_no_scale.py").read_text()
POINTER = "fix attention.scaled_dot_product_attention first (multihead builds on it)"


@pytest.fixture(scope="module")
def attention_bug(zygote, tmp_path_factory):
    """attention's scaled_dot_product_attention forgets the scale; multihead and blocks are right."""
    sub = submission_from_reference(tmp_path_factory.mktemp("cause"), {"attention": NO_SCALE})
    return grade(zygote, sub, ["attention", "multihead", "blocks"], "official")


def _failing(result, ex_id):
    ex = next(e for e in result.exercises if e.id == ex_id)
    return [c for c in ex.checks if c.status != "passed" and c.kind != "banned" and not c.withheld]


def test_dependent_checks_point_at_the_function_they_build_on(attention_bug):
    for ex_id in ("multihead", "blocks"):
        failing = _failing(attention_bug, ex_id)
        assert failing, ex_id
        for c in failing:  # every dependent failing check, in every dependent exercise
            assert c.cause is not None, (ex_id, c.id)
            assert c.cause["dep"] == "attention.scaled_dot_product_attention"
            assert c.cause["by"] == ex_id and c.cause["check"] == "sdpa_reference"
    # attention's own failure has no pointer (it is the cause)
    sdpa = next(c for c in _failing(attention_bug, "attention") if c.id == "sdpa_reference")
    assert sdpa.cause is None


def test_the_pointer_replaces_the_dependent_exercise_hints_in_every_format(attention_bug):
    hints = all_hints()
    mha_hints = [h[lang] for levels in hints["multihead"].values() for h in levels for lang in ("en", "zh")]
    for fmt in FORMATS:
        for lang, pointer in (("en", POINTER),
                              ("zh", "请先修好 attention.scaled_dot_product_attention（multihead 依赖它）")):
            text = render_format(attention_bug, fmt, lang, hints=hints, student=False)
            if fmt in ("json",):
                doc = json.loads(text)
                mha = next(e for e in doc["exercises"] if e["id"] == "multihead")
                causes = [c["cause"] for c in mha["checks"] if c.get("cause")]
                assert causes and all(c["text"] == POINTER for c in causes)
                assert all(c["text_zh"].startswith("请先修好") for c in causes)
                continue
            flat = "".join(text.split()).replace("\\", "")  # wrapped lines joined, markdown unescaped
            assert "".join(pointer.split()) in flat, (fmt, lang)
            for h in mha_hints:  # the hints that would send the student into multihead.py
                assert "".join(h.split()) not in flat, (fmt, lang, h)


def test_unfinished_function_of_another_exercise_is_reported_from_there(zygote, tmp_path):
    stub = (EXERCISES / "masking.py").read_text()
    sub = submission_from_reference(tmp_path, replace={"masking": stub})
    result = grade(zygote, sub, ["masking", "blocks"], "official")
    masking, blocks = result.exercises
    assert masking.not_started
    assert not blocks.not_started  # blocks is written: its failures are not "not implemented yet"
    decoder = [c for c in blocks.checks if c.id in ("decoder_block_reference", "decoder_block_causal")]
    assert decoder
    for c in decoder:
        assert c.status == "error" and not c.failure.not_implemented
        assert c.message.startswith("NotImplementedError: causal_mask (exercises/masking.py:")
        assert c.failure.frames[-1][0] == "masking.py" and c.failure.frames[-1][2] == "causal_mask"
        assert c.cause and c.cause["dep"] == "masking.causal_mask"
    encoder = next(c for c in blocks.checks if c.id == "encoder_block_reference")
    assert encoder.status == "passed"  # EncoderBlock does not use causal_mask
    text = render_format(result, "rich", "en")
    assert "DecoderBlock is not implemented" not in text and "exercises/masking.py:" in text
    zh = render_format(result, "rich", "zh")
    assert "尚未实现（你的 blocks.py 调用了它）" in zh and "请先修好 masking.causal_mask" in zh


def test_failing_input_is_in_the_students_terms(zygote, tmp_path):
    # forward ignores merged, so merge() counts the update twice; the module check fails too
    wrong = ("class LoRALinear(LoRALinear):  # noqa: F821\n"
             "    def forward(self, x):\n"
             "        return self.base(x) + 2 * self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)\n")
    sub = submission_from_reference(tmp_path, {"lora": wrong})
    result = grade(zygote, sub, ["lora"], "official")
    inputs = [c.failure.input for c in result.exercises[0].checks if c.status != "passed" and c.failure]
    assert any("LoRALinear(nn.Linear(" in i and "→" in i for i in inputs), inputs
    for i in inputs:
        assert "$linear" not in i and "Array(" not in i and "kind=" not in i, i


def test_property_input_shows_every_argument_of_the_call(zygote, tmp_path):
    wrong = ("def scaled_dot_product_attention(q, k, v, mask=None):\n"
             "    import math\n"
             "    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
             "    if mask is not None:\n"
             "        s = s.masked_fill(~mask, -30.0)\n"  # not -inf: a masked key keeps a tiny weight
             "    p = softmax(s, dim=-1)\n"
             "    return p @ v, p\n")
    sub = submission_from_reference(tmp_path, {"attention": wrong})
    result = grade(zygote, sub, ["attention"], "official")
    check = next(c for c in result.exercises[0].checks if c.id == "sdpa_masking")
    assert check.status == "failed"
    text = check.failure.input
    assert "scaled_dot_product_attention(" in text and text.count("float64[") >= 3, text
    assert "mask=bool[" in text, text
    assert to_json(result)["exercises"][0]["checks"]


def test_a_syntax_error_is_reported_once_per_exercise_in_every_format(zygote, tmp_path):
    broken_line = "def padding_mask((lengths: torch.Tensor, max_len: int) -> torch.Tensor:"
    src = (ROOT / "solutions" / "masking.py").read_text()
    assert "def padding_mask(lengths" in src
    src = src.replace("def padding_mask(", "def padding_mask((", 1)
    lineno = src.splitlines().index(broken_line) + 1
    sub = submission_from_reference(tmp_path, replace={"masking": src})
    result = grade(zygote, sub, ["attention", "masking"], "official")
    attention, masking = result.exercises
    assert attention.score == attention.max_score  # the others still grade
    assert masking.score == 0
    assert f"exercises/masking.py:{lineno}" in masking.error and broken_line in masking.error
    caret = masking.error.splitlines()[-1]
    assert caret.strip() == "^" and caret.index("^") == 4 + broken_line.index("((") + 1
    for c in masking.checks:  # each check only says it was not graded
        assert c.status == "error" and c.score == 0
        assert c.message == "not graded: exercises/masking.py does not import (see the exercise's error)"
        assert broken_line not in c.message and not c.failure.frames
    for fmt in FORMATS:
        for lang in ("en", "zh"):
            text = render_format(result, fmt, lang, student=False)
            text = html.unescape(text) if fmt in ("junit", "html") else text
            if fmt in ("json", "gradescope"):
                text = json.dumps(json.loads(text), ensure_ascii=False).replace("\\n", "\n")
            assert text.count(broken_line) == 1, (fmt, lang)
            assert text.count("Function parameters cannot be parenthesized") == 1, (fmt, lang)
            assert "checks not graded" in text or "个检查未评分" in text or fmt == "json", (fmt, lang)


def _timeless(doc):
    """A JSON report without its durations (the only part of it that may vary)."""
    if isinstance(doc, dict):
        return {k: _timeless(v) for k, v in doc.items() if k != "seconds"}
    if isinstance(doc, list):
        return [_timeless(v) for v in doc]
    return doc


def test_the_same_seed_gives_the_same_report(zygote, tmp_path):
    from grader.host.sandbox import choose
    from grader.runner import Runner
    from tests.harness import SOLUTIONS, exercises

    pre_ln = (ROOT / "mistakes" / "blocks" / "encoder_pre_ln.py").read_text()
    sub = submission_from_reference(tmp_path, {"blocks": pre_ln})
    reports = []
    for _ in range(6):  # two exercises in two threads, as `grade` does by default (--jobs 2)
        result = Runner(sub, exercises(["ffn", "blocks"]), mode="official", reference=SOLUTIONS, seed=1234,
                        sandbox=choose(), zygote=zygote, jobs=2).run()
        encoder = next(c for c in result.exercises[1].checks if c.id == "encoder_block_reference")
        assert encoder.status == "failed" and encoder.failure.input
        reports.append(json.dumps(_timeless(to_json(result)), sort_keys=True))
    assert all(r == reports[0] for r in reports[1:])


def test_reference_modules_are_built_the_same_in_two_threads():
    """Two exercises graded at once (two threads) share torch's one global generator: the
    reference's seeded builds must not interleave, or the weights depend on the timing."""
    import threading

    import numpy as np

    from grader.reference import Reference, build_module, state_of
    from tests.harness import SOLUTIONS

    module = Reference(SOLUTIONS).module("ffn")
    case = {"init_args": (), "init": {"d_model": 16, "d_ff": 64}, "dtype": "float64"}
    want = {s: state_of(build_module(module, "FeedForward", case, s)) for s in range(20)}
    bad: list[int] = []

    def build(seeds):
        for s in seeds:
            got = state_of(build_module(module, "FeedForward", case, s))
            if any(not np.array_equal(got[k], want[s][k]) for k in want[s]):
                bad.append(s)

    threads = [threading.Thread(target=build, args=(list(range(20)) * 5,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


MERGE_INTO_BIAS = """
import torch as _torch


class LoRALinear(LoRALinear):  # noqa: F821  (merge() also shifts the bias: not a known mistake)
    @_torch.no_grad()
    def merge(self):
        if self.merged:
            return
        self.base.weight += self.scaling * (self.lora_B @ self.lora_A)
        if self.base.bias is not None:
            self.base.bias += self.scaling * (self.lora_B @ self.lora_A).sum(1)
        self.merged = True
"""


def test_a_property_mistake_is_named_only_when_the_behaviour_matches(zygote, tmp_path):
    known = ROOT / "mistakes" / "lora" / "forward_adds_when_merged.py"
    sentence = "Your forward() still adds the low-rank path after merge(), so a merged layer counts the update twice."
    for name, text, want in (("other", MERGE_INTO_BIAS, ""), ("known", known.read_text(), sentence)):
        sub = submission_from_reference(tmp_path / name, {"lora": text})
        for mode in ("official", "local"):
            result = grade(zygote, sub, ["lora"], mode, name_mistakes=True)
            merge = next(c for c in result.exercises[0].checks if c.id == "lora_merge")
            assert merge.status == "failed", (name, mode)
            # both fail with "output after merge() differs from the reference"; only the known
            # mistake's outputs are the student's
            assert merge.failure.message == "output after merge() differs from the reference", (name, mode)
            assert merge.failure.diagnosis == want, (name, mode)


def test_a_regrade_points_at_the_cause_graded_before(zygote, tmp_path):
    """Watch mode re-grades only the changed exercise: the earlier results still name the cause."""
    from grader.host.sandbox import choose
    from grader.runner import Runner
    from tests.harness import SOLUTIONS, exercises

    sub = submission_from_reference(tmp_path, {"attention": NO_SCALE})
    first = grade(zygote, sub, ["attention"], "official")
    runner = Runner(sub, exercises(["multihead"]), mode="official", reference=SOLUTIONS, seed=None,
                    sandbox=choose(), zygote=zygote)
    runner.earlier = list(first.exercises)
    result = runner.run()
    failing = [c for c in result.exercises[0].checks if c.status != "passed" and c.kind != "banned"
               and not c.withheld]
    assert failing and all(c.cause and c.cause["dep"] == "attention.scaled_dot_product_attention" for c in failing)
