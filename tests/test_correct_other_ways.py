"""A correct submission written another way gets full marks, in both modes.

Each ``tests/correct/<exercise>.py`` (and ``<exercise>__<variant>.py``, another student's) is
appended to the reference module of that exercise (its definitions win, as a known mistake's
do; ``<exercise>__whole*.py`` replaces the module instead, written from scratch) and rewrites what the exercise asks for in a
way the reference does not: einsum or explicit loops, float64 inside, ``masked_fill`` with a
large negative number, other but equivalent formulas, its own training loop. Files named
``tests/correct/helpers_*.py`` are copied into the submission as modules of their own: a
student's helper modules. The wrong submissions that the checks must still catch are the
known mistakes (``mistakes/``, graded by tests/test_course.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import grade, implemented, statuses, submission_from_reference

CORRECT = Path(__file__).resolve().parent / "correct"
WRITTEN = sorted(p.stem for p in CORRECT.glob("*.py") if not p.stem.startswith("helpers_"))
EXERCISE = {name: name.split("__")[0] for name in WRITTEN}
HELPERS = {p.stem: p.read_text(encoding="utf-8") for p in CORRECT.glob("helpers_*.py")}


def test_every_alternative_is_an_exercise():
    assert set(EXERCISE.values()) <= set(implemented()), set(EXERCISE.values()) - set(implemented())


@pytest.mark.parametrize("mode", ["official", "local"])
@pytest.mark.parametrize("name", WRITTEN)
def test_correct_code_written_another_way_gets_full_marks(zygote, tmp_path, name, mode):
    ex_id = EXERCISE[name]
    code = (CORRECT / f"{name}.py").read_text(encoding="utf-8")
    whole = name.startswith(f"{ex_id}__whole")
    sub = submission_from_reference(tmp_path, None if whole else {ex_id: code}, {ex_id: code} if whole else None)
    for helper, text in HELPERS.items():
        (sub / f"{helper}.py").write_text(text, encoding="utf-8")
    result = grade(zygote, sub, [ex_id], mode)
    lost = {k: v for k, v in statuses(result).items() if v != "passed"}
    messages = {c.id: c.message for e in result.exercises for c in e.checks if c.status != "passed"}
    assert result.score == result.max_score, (lost, messages)
    assert not result.grader_errors, result.grader_errors
