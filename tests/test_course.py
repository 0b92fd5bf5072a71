"""Every exercise is valid by `grade check`'s definition (grader/instructor.py,
``CourseChecker``): the reference scores full marks in official and local mode and agrees with
itself in float32 and float64, the untouched stub scores zero with no vacuous pass, at least
five known mistakes, each failing the checks its `catches:` names and reported as itself,
every check failed by one of them, every message translated, the snapshot fresh.

One `grade check` per exercise, with one seed and no flake rerun (CI time: the same gradings
the per-mistake tests did before); `grade check` itself scans for flakes with three seeds."""

from __future__ import annotations

import pytest

from grader.instructor import CourseChecker
from tests.harness import ROOT, exercise, implemented

IDS = implemented()


@pytest.fixture(scope="module")
def checker(zygote):
    c = CourseChecker(ROOT, seeds=1, zygote=zygote, rerun=False)
    yield c
    c.close()


@pytest.mark.parametrize("ex_id", IDS)
def test_grade_check_passes(checker, ex_id):
    rep = checker.check(exercise(ex_id), [])
    assert rep.ok, f"grade check {ex_id}:\n" + "\n".join(rep.problems)
    assert rep.reference == "full" and rep.stub == "0" and rep.caught[0] == rep.caught[1] >= 5


def test_metadata_is_consistent():
    from grader.metadata import load_exercises, validate

    assert validate([e for e in load_exercises() if e.id in IDS]) == []
