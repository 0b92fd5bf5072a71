"""A free-form check that passes may return a note (e.g. the accuracy a quality check reached):
the runner keeps it as the passed check's message and the terminal report shows it."""

from __future__ import annotations

from rich.console import Console

from grader.reports import render_check
from grader.runner import CheckResult, ExerciseResult


def _render(check: CheckResult) -> str:
    console = Console(record=True, width=100, color_system=None)
    ex = ExerciseResult("x", {"en": "x"}, check.score, check.max_score, [check])
    render_check(console, ex, check, "en", None)
    return console.export_text()


def test_a_passed_check_shows_its_note():
    note = "held-out accuracy 0.990 in 2.1 s (pass mark 0.90, budget 60 s)"
    text = _render(CheckResult("q", "trains well", "passed", 3, 3, kind="quality", message=note))
    assert "trains well" in text and note in text
    assert _render(CheckResult("q", "trains well", "passed", 3, 3, kind="quality")).strip().count("\n") == 0
