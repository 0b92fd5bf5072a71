"""Grading helpers for the tests: build submissions (reference + a known mistake, hostile
files, ...) in temporary folders and grade them with one shared zygote."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader.host.sandbox import choose
from grader.metadata import Exercise, load_exercises, mistake_info
from grader.runner import Runner, RunResult

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
MISTAKES = ROOT / "mistakes"


def exercises(ids: list[str] | None = None) -> list[Exercise]:
    all_ = load_exercises()
    return [e for e in all_ if ids is None or e.id in ids]


def exercise(ex_id: str) -> Exercise:
    return exercises([ex_id])[0]


def implemented() -> list[str]:
    """Exercises whose reference, stub and checks exist."""
    out = []
    for e in load_exercises():
        if (SOLUTIONS / f"{e.id}.py").exists() and (ROOT / "grader" / "course" / f"{e.id}.py").exists():
            out.append(e.id)
    return out


def submission_from_reference(tmp: Path, overrides: dict[str, str] | None = None,
                              replace: dict[str, str] | None = None) -> Path:
    """A submission folder: every reference module, with ``overrides`` appended to some
    (a mistake's definitions win) and ``replace`` substituting whole files."""
    sub = tmp / "submission"
    if sub.exists():
        shutil.rmtree(sub)
    sub.mkdir(parents=True)
    for f in SOLUTIONS.glob("*.py"):
        shutil.copy(f, sub / f.name)
    for name, text in (overrides or {}).items():
        base = (sub / f"{name}.py").read_text(encoding="utf-8")
        (sub / f"{name}.py").write_text(base + "\n\n# --- override ---\n" + text, encoding="utf-8")
    for name, text in (replace or {}).items():
        (sub / f"{name}.py").write_text(text, encoding="utf-8")
    return sub


def mistake_files(ex_id: str | None = None) -> list[Path]:
    if ex_id:
        return sorted((MISTAKES / ex_id).glob("*.py"))
    return sorted(MISTAKES.glob("*/*.py"))


def catches(path: Path) -> list[str]:
    return mistake_info(path)["catches"]


def grade(zygote, submission: Path, ex_ids: list[str], mode: str = "official", seed: int | None = None,
          max_examples: int | None = None, call_timeout: float | None = None,
          name_mistakes: bool = False) -> RunResult:
    """Grade with the shared zygote. Naming mistakes by replay is off unless asked for: it
    grades every known mistake again, which the tests of naming do on purpose."""
    runner = Runner(submission, exercises(ex_ids), mode=mode,
                    reference=SOLUTIONS if mode == "official" else None, seed=seed,
                    sandbox=choose(), zygote=zygote, max_examples=max_examples,
                    call_timeout=call_timeout, name_mistakes=name_mistakes)
    return runner.run()


def statuses(result: RunResult) -> dict[str, str]:
    return {f"{e.id}.{c.id}": c.status for e in result.exercises for c in e.checks}
