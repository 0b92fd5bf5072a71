"""Quality checks show their margin: what was reached against what is needed, and the time
against the budget ("0.97 held-out accuracy (needs 0.80) in 6.8 s of 60 s"), passed or not, in
every format and both languages."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest

from grader import formats
from grader.checks import Failure, margin_text
from grader.runner import CheckResult, ExerciseResult, RunResult
from tests.harness import SOLUTIONS, exercise

MARGIN = {"metric": "held-out accuracy", "metric_zh": "留出集准确率", "value": 0.9712, "needed": 0.8,
          "higher_is_better": True, "digits": 2, "seconds": 6.81, "budget": 60.0}
EN = "0.97 held-out accuracy (needs 0.80) in 6.8 s of 60 s"
ZH = "留出集准确率 0.97（要求不低于 0.80），用时 6.8 秒（限时 60 秒）"


def test_margin_text():
    assert margin_text(MARGIN) == EN
    assert margin_text(MARGIN, "zh") == ZH
    low = dict(MARGIN, metric="loss", value=0.31, needed=0.5, higher_is_better=False, seconds=1.04, budget=20)
    assert margin_text(low) == "0.31 loss (needs 0.50 or less) in 1.0 s of 20 s"


def _result(status: str) -> RunResult:
    failure = None if status == "passed" else Failure(
        "the fine-tuned classifier is not accurate enough", expected=">= 0.80", got="0.412")
    margin = MARGIN if status == "passed" else dict(MARGIN, value=0.412)
    c = CheckResult("finetune_quality", "finetune_classifier reaches >= 0.80 held-out accuracy", status,
                    6.0 if status == "passed" else 0.0, 6.0, kind="quality", uses=["finetune_classifier"],
                    message="" if failure is None else failure.message, failure=failure, margin=margin,
                    title_zh="finetune_classifier 准确率至少 0.80")
    ex = ExerciseResult("finetune", {"en": "Fine-tuning", "zh": "微调"}, c.score, 6.0, [c], file="exercises/finetune.py")
    return RunResult(c.score, 6.0, "official", 1, "bwrap", {"grader": "0", "torch": "2", "numpy": "1",
                                                           "python": "3"}, [ex])


@pytest.mark.parametrize("status", ["passed", "failed"])
def test_every_format_shows_the_margin(status):
    result = _result(status)
    want_en = EN if status == "passed" else EN.replace("0.97", "0.41")
    want_zh = ZH if status == "passed" else ZH.replace("0.97", "0.41")
    for fmt in formats.FORMATS:
        en = formats.render_format(result, fmt, "en")
        zh = formats.render_format(result, fmt, "zh")
        if fmt in ("json", "gradescope"):
            en, zh = json.dumps(json.loads(en), ensure_ascii=False), json.dumps(json.loads(zh), ensure_ascii=False)
        if fmt == "junit":
            ET.fromstring(en)
        assert want_en in en, (fmt, en[:2000])
        assert want_zh in (zh if fmt != "json" else en), (fmt, zh[:2000])
    doc = json.loads(formats.render_format(result, "json"))
    m = doc["exercises"][0]["checks"][0]["margin"]
    assert m["text"] == want_en and m["text_zh"] == want_zh and m["value"] == pytest.approx(MARGIN["value"]
                                                                                          if status == "passed" else 0.412)


def test_hidden_quality_check_hides_its_margin():
    result = copy.deepcopy(_result("passed"))
    result.exercises[0].checks[0].hidden = True
    for fmt in formats.FORMATS:
        assert "held-out accuracy (needs" not in formats.render_format(result, fmt, "en", student=True), fmt


def test_a_real_quality_check_reports_what_it_reached(zygote):
    ex = exercise("embedding")
    only = [c for c in ex.checks() if c.id == "train_word_vectors_quality"]
    ex.checks = lambda: only  # grade just this check
    from grader.host.sandbox import choose
    from grader.runner import Runner

    result = Runner(SOLUTIONS, [ex], mode="local", reference=None, seed=0, sandbox=choose(), zygote=zygote).run()
    c = result.exercises[0].checks[0]
    assert c.status == "passed" and c.margin is not None
    assert c.margin["value"] >= 0.9 and 0 < c.margin["seconds"] < c.margin["budget"] == 20
    text = formats.rich_text(result)
    assert "same-topic nearest-neighbour rate (needs 0.90) in" in text and "s of 20 s" in text
