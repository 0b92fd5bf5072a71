"""Every exercise: the reference scores full marks (official and local mode), the untouched
stub scores zero with no vacuous pass, every known mistake loses points in the checks it
names, and every check is caught by at least one known mistake."""

from __future__ import annotations

import pytest

from grader.reports import translate
from tests.harness import (
    EXERCISES,
    SOLUTIONS,
    catches,
    exercise,
    grade,
    implemented,
    mistake_files,
    statuses,
    submission_from_reference,
)

IDS = implemented()
MISTAKES = [(p.parent.name, p) for ex in IDS for p in mistake_files(ex)]


@pytest.mark.parametrize("ex_id", IDS)
def test_reference_full_marks_official(zygote, ex_id):
    result = grade(zygote, SOLUTIONS, [ex_id], "official")
    bad = {k: v for k, v in statuses(result).items() if v != "passed"}
    assert not bad, [(c.id, c.message) for e in result.exercises for c in e.checks if c.status != "passed"]
    assert result.score == result.max_score > 0
    assert not result.grader_errors


@pytest.mark.parametrize("ex_id", IDS)
def test_reference_full_marks_local(zygote, ex_id):
    result = grade(zygote, SOLUTIONS, [ex_id], "local")
    assert result.score == result.max_score, [
        (c.id, c.message) for e in result.exercises for c in e.checks if c.status != "passed"]


@pytest.mark.parametrize("ex_id", IDS)
def test_stub_scores_zero(zygote, ex_id):
    result = grade(zygote, EXERCISES, [ex_id], "official")
    passed = [k for k, v in statuses(result).items() if v == "passed"]
    assert not passed, f"checks pass vacuously on the untouched stub: {passed}"
    assert result.score == 0
    assert result.exercises[0].not_started
    assert not result.grader_errors


@pytest.mark.parametrize("ex_id,path", MISTAKES, ids=[f"{e}/{p.stem}" for e, p in MISTAKES])
def test_known_mistake_is_caught(zygote, tmp_path, ex_id, path):
    sub = submission_from_reference(tmp_path, {ex_id: path.read_text(encoding="utf-8")})
    result = grade(zygote, sub, [ex_id], "official")
    st = statuses(result)
    expected = catches(path)
    assert expected, f"{path.name}: no `catches:` line"
    missed = [c for c in expected if st.get(f"{ex_id}.{c}") == "passed"]
    unknown = [c for c in expected if f"{ex_id}.{c}" not in st]
    assert not unknown, f"{path.name} names unknown checks {unknown}"
    assert not missed, f"{path.name}: these checks should fail but pass: {missed}"
    assert result.score < result.max_score
    assert not result.grader_errors, result.grader_errors
    # the Chinese report translates every failure message this mistake produces
    untranslated = [(c.id, c.raw_message) for e in result.exercises for c in e.checks
                    if c.status == "failed" and c.failure and not c.failure.not_implemented
                    and not has_chinese(translate(c.raw_message, "zh", ex_id))]
    assert not untranslated, f"add these to grader/course/i18n/{ex_id}.toml: {untranslated}"


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("ex_id", IDS)
def test_every_check_catches_a_mistake(ex_id):
    ex = exercise(ex_id)
    names = {c.id for c in ex.checks()}
    caught = {c for p in mistake_files(ex_id) for c in catches(p)}
    assert len(mistake_files(ex_id)) >= 5, "at least five known mistakes per exercise"
    assert names <= caught, f"checks no known mistake exercises: {sorted(names - caught)}"


def test_metadata_is_consistent():
    from grader.metadata import load_exercises, validate

    assert validate([e for e in load_exercises() if e.id in IDS]) == []
