"""One view of a result for every report (grader/view.py): hidden checks redacted once (the
student view is the default everywhere, ``--staff`` shows all), messages localised once, and
every renderer (terminal, text, JSON, Markdown, HTML, JUnit, Gradescope) only lays it out."""

from __future__ import annotations

import io
import json
import math

import pytest

from grader import formats, reports, view
from grader.checks import Failure
from grader.runner import CheckResult, ExerciseResult, RunResult

SECRET = "SECRETx9q"
VERSIONS = {"grader": "0", "torch": "2", "numpy": "1", "python": "3"}


def _hidden_result() -> RunResult:
    visible = CheckResult("open_check", "the open check", "failed", 0, 2, kind="compare", uses=["f"],
                          message="output differs from the reference",
                          failure=Failure("output differs from the reference", input="f(1)", expected="1",
                                          got="2", error="max abs error 1 (rel 1) at output[0]; allowed 1e-06"))
    hidden_failed = CheckResult(
        f"hid_{SECRET}", f"title {SECRET}", "failed", 0, 3, kind="compare", uses=["f"], hidden=True,
        title_zh=f"标题 {SECRET}", message=f"message {SECRET}",
        failure=Failure(f"message {SECRET}", input=f"input {SECRET}", expected=f"exp {SECRET}", got=f"got {SECRET}",
                        error=f"error {SECRET}", diagnosis=f"diag {SECRET}", diagnosis_zh=f"诊断 {SECRET}",
                        frames=[["x.py", 3, "f", f"code {SECRET}"]],
                        heatmap={"expected": [[0.5, 0.5]], "got": [[0.1, 0.9]], "tensor": f"t{SECRET}"}))
    hidden_passed = CheckResult(
        f"quality_{SECRET}", f"quality {SECRET}", "passed", 4, 4, kind="quality", hidden=True,
        message=f"note {SECRET}",
        margin={"metric": f"metric {SECRET}", "value": 0.9, "needed": 0.5, "seconds": 1.0, "budget": 10.0})
    hidden_withheld = CheckResult(f"banned_{SECRET}", f"banned {SECRET}", "passed", 0, 1, hidden=True,
                                  withheld=f"points withheld {SECRET}")
    hidden_error = CheckResult(f"err_{SECRET}", f"err {SECRET}", "error", 0, 1, hidden=True,
                               failure=Failure(f"boom {SECRET}"))
    ex = ExerciseResult("attention", {"en": "Attention", "zh": "注意力"}, 4, 11,
                        [visible, hidden_failed, hidden_passed, hidden_withheld, hidden_error],
                        file="exercises/attention.py", output=f"printed {SECRET}\n")
    return RunResult(4, 11, "local", 0, "process", VERSIONS, [ex],
                     grader_errors=[f"attention.err_{SECRET}: worker said {SECRET}"])


def _terminal(result, lang: str, student: bool, width: int = 100) -> str:
    buf = io.StringIO()
    reports.render(result, reports.make_console(file=buf, width=width), lang, {}, student=student)
    return buf.getvalue()


def _every_format(result, lang: str, student: bool) -> dict[str, str]:
    out = {fmt: formats.render_format(result, fmt, lang, student=student) for fmt in formats.FORMATS}
    out["terminal"] = _terminal(result, lang, student)
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_student_view_never_shows_a_hidden_check(lang):
    result = _hidden_result()
    for fmt, text in _every_format(result, lang, student=True).items():
        assert SECRET not in text, (fmt, text[text.find(SECRET) - 300:text.find(SECRET) + 100])
        assert "open_check" in text or "the open check" in text, fmt  # the visible one is there
    # the defaults are the student view, JSON and terminal included
    assert SECRET not in reports.json_text(result) and SECRET not in formats.render_format(result, "json")
    buf = io.StringIO()
    reports.render(result, reports.make_console(file=buf, width=100))
    assert SECRET not in buf.getvalue()
    assert SECRET not in json.dumps(reports.to_json(result))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_staff_view_shows_everything(lang):
    result = _hidden_result()
    for fmt, text in _every_format(result, lang, student=False).items():
        assert SECRET in text, fmt
    doc = reports.to_json(result, student=False)
    checks = doc["exercises"][0]["checks"]
    assert checks[1]["name"] == f"hid_{SECRET}" and checks[1]["details"]["input"] == f"input {SECRET}"


def test_student_view_counts_hidden_checks():
    v = view.build(_hidden_result())
    ex = v.exercises[0]
    assert ex.hidden_total == 4 and ex.hidden_failed == 2
    placeholders = [c for c in ex.checks if c.redacted]
    assert [c.id for c in placeholders] == ["hidden-1", "hidden-2", "hidden-3", "hidden-4"]
    assert [c.status for c in placeholders] == ["failed", "passed", "passed", "failed"]
    assert sum(c.score for c in ex.checks) == 4  # the points still count
    assert not ex.output  # what the program printed could show a hidden input
    assert v.grader_errors == ["attention.hidden-4: grader error"]
    doc = json.loads(formats.render_format(_hidden_result(), "gradescope"))
    assert math.isclose(sum(t["score"] for t in doc["tests"]), 4)
    assert [t["name"] for t in doc["tests"] if t["visibility"] == "after_published"] == [
        f"hidden check {i} of attention" for i in range(1, 5)]


def test_one_table_of_formats():
    from grader import cli

    assert list(cli.FORMATS) == list(formats.REGISTRY) == list(formats.FORMATS)
    assert formats.FILENAMES == {name: f.filename for name, f in formats.REGISTRY.items()}
    run = cli.main.commands["run"]
    choices = next(p.type.choices for p in run.params if p.name == "fmts")
    assert list(choices) == list(formats.FORMATS)


def test_explanation_is_built_once():
    """The terminal, Gradescope and JUnit show one and the same explanation of a check."""
    result = _hidden_result()
    c = view.build(result, "zh").exercises[0].checks[0]
    body = c.text()
    assert "最大绝对误差" in body and "期望" in body
    gs = json.loads(formats.render_format(result, "gradescope", "zh"))["tests"][0]["output"]
    assert gs == body
    assert body.replace("\n", "") in "".join(_terminal(result, "zh", True, 200).split("\n      "))
