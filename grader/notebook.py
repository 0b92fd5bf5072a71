"""Grading from a notebook (Jupyter, JupyterLab, VS Code, Colab).

    import grader
    grader.grade("attention")          # or, after %load_ext grader:  %grade attention

grades the exercise modules of the notebook's folder (its ``exercises/``, found by the same
rule as ``grade --submission``), shows the report inline as HTML (the HTML report's content,
failing checks first, styled inside its own block so the notebook's look is untouched) and
returns a :class:`GradeReport` with ``.score``, ``.max_score`` and ``.checks``. Outside a
notebook it prints the text report instead. It needs no bubblewrap: where bubblewrap cannot
run (Colab, macOS, most containers) each exercise runs in a process of its own with time and
memory limits, as the terminal command does there.

One worker factory (torch imported once) serves every call of a kernel; it is closed when
the kernel exits.
"""

from __future__ import annotations

import atexit
import re
import shlex
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SCOPE = "transformer-grader-report"
_ZYGOTES: dict[tuple, Any] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class CheckView:
    """One check of the report, as plain values."""

    exercise: str
    id: str
    title: str
    status: str  # passed | failed | error | timeout | crashed | skipped
    score: float
    max_score: float
    message: str = ""
    diagnosis: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class ExerciseView:
    id: str
    score: float
    max_score: float
    checks: list[CheckView] = field(default_factory=list)
    error: str = ""  # why the module does not import (then its checks were not graded)


class GradeReport:
    """What :func:`grade` returns: the score, every check, and the report as HTML or text."""

    def __init__(self, result: Any, lang: str, hints: dict) -> None:
        self.result = result  # the grader's RunResult
        self.lang = lang
        self._hints = hints
        self.score: float = result.score
        self.max_score: float = result.max_score
        self.mode: str = result.mode
        self.sandbox: str = result.sandbox
        self.problem: str = result.problem
        from grader.view import build

        # the report's own view: hidden checks redacted, every message in the report's language
        shown = build(result, lang)
        self.grader_errors: list[str] = list(shown.grader_errors)
        self.exercises: dict[str, ExerciseView] = {}
        self.checks: list[CheckView] = []
        for ex in shown.exercises:
            view = ExerciseView(ex.id, ex.score, ex.max_score, error=ex.error)
            for c in ex.checks:
                check = CheckView(ex.id, c.id, c.title, c.status if c.redacted else c.result_status, c.score,
                                  c.max_score, c.message or "\n".join(c.notes), c.diagnosis)
                view.checks.append(check)
                self.checks.append(check)
            self.exercises[ex.id] = view

    @property
    def failed(self) -> list[CheckView]:
        return [c for c in self.checks if not c.passed]

    @property
    def html(self) -> str:
        """The HTML report's content, failing checks first, with its style scoped to it."""
        from grader.formats import CSS, html

        page = html(failures_first(self.result), self.lang, student=True, hints=self._hints)
        body = page.split("<body>", 1)[1].rsplit("</body>", 1)[0]
        return f'<div class="{SCOPE}"><style>{scoped_css(CSS, "." + SCOPE)}</style>{body}</div>'

    @property
    def text(self) -> str:
        from grader.formats import rich_text

        return rich_text(self.result, self.lang, student=True, hints=self._hints)

    def show(self) -> None:
        """Show the report: inline HTML in a notebook, the text report elsewhere."""
        if _in_notebook():
            from IPython.display import display

            display({"text/html": self.html, "text/plain": self.text}, raw=True)
        else:
            print(self.text)

    def __repr__(self) -> str:
        first = self.failed[0] if self.failed else None
        tail = f"; first failing: {first.exercise} · {first.title}" if first else ""
        return f"GradeReport(score={self.score:g}, max_score={self.max_score:g}{tail})"


def grade(*exercises: str, submission: str | Path | None = None, lang: str | None = None, mode: str = "auto",
          seed: int | None = None, show: bool = True, jobs: int = 1) -> GradeReport:
    """Grade EXERCISES (default: all) of the notebook's folder and show the report.

    ``submission``: the folder to grade (default: the working directory, which is the
    notebook's folder in Jupyter; its ``exercises/`` is found as by ``grade --submission``).
    ``mode``: ``auto`` grades officially only where the reference solutions are beside the
    exercises (a course checkout), else in local mode. ``show=False`` only returns the report.
    """
    from grader.cli import all_hints, default_lang
    from grader.discover import find_modules, not_graded
    from grader.metadata import load_exercises
    from grader.runner import Runner

    course = load_exercises()
    known = {e.id: e for e in course}
    unknown = [n for n in exercises if n not in known]
    if unknown:
        raise ValueError(f"unknown exercise {unknown[0]!r}; known: {', '.join(known)}")
    selected = [known[n] for n in exercises] if exercises else course
    lang = lang or default_lang()
    folder = Path(submission) if submission is not None else Path.cwd()
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    reference = None
    if mode != "local":
        for base in (folder, folder.parent):
            if (base / "solutions").is_dir() and (base / "exercises").is_dir():
                reference = base / "solutions"
                break
        if mode == "official" and reference is None:
            raise ValueError("official mode needs solutions/ beside exercises/")
    mode = "official" if reference is not None else "local"
    zygote = _zygote(reference)
    found = find_modules(folder, list(known))
    if found.folder is None:
        result = not_graded(selected, mode=mode, seed=seed or 0, sandbox=zygote.sandbox.level,
                            problem=found.problem(), submission=str(folder))
    else:
        result = Runner(found.folder, selected, mode=mode, reference=reference, seed=seed, sandbox=zygote.sandbox,
                        zygote=zygote, jobs=jobs).run()
    report = GradeReport(result, lang, all_hints())
    if show:
        report.show()
    return report


def failures_first(result: Any) -> Any:
    """The same result with the exercises that lost points first, and in each exercise the
    checks that did not pass before those that did (each group in course order)."""
    exercises = [replace(ex, checks=[c for c in ex.checks if c.status != "passed"]
                         + [c for c in ex.checks if c.status == "passed"]) for ex in result.exercises]
    exercises.sort(key=lambda ex: ex.score >= ex.max_score)
    return replace(result, exercises=exercises)


def scoped_css(css: str, scope: str) -> str:
    """``css`` with every rule limited to ``scope`` (the report's own block): ``:root`` and
    ``body`` become the block, other selectors are looked for inside it."""
    out: list[str] = []
    i = 0
    while i < len(css):
        brace = css.find("{", i)
        if brace < 0:
            break
        head = css[i:brace].strip()
        if head.startswith("@"):  # @media: scope the rules inside it
            depth, j = 1, brace + 1
            while depth and j < len(css):
                depth += {"{": 1, "}": -1}.get(css[j], 0)
                j += 1
            out.append(f"{head} {{{scoped_css(css[brace + 1:j - 1], scope)}}}")
            i = j
            continue
        end = css.find("}", brace)
        sels = [s.strip() for s in head.split(",") if s.strip()]
        scoped = [re.sub(r"^(:root|body|html)\b", scope, s) if re.match(r"^(:root|body|html)\b", s)
                  else f"{scope} {s}" for s in sels]
        out.append(f"{', '.join(scoped)} {css[brace:end + 1]}")
        i = end + 1
    return "\n".join(out)


def _zygote(reference: Path | None) -> Any:
    """The kernel's worker factory for this sandbox (started once, closed at exit)."""
    from grader.host.pool import Zygote
    from grader.host.sandbox import choose

    sandbox = choose(hide=[reference] if reference is not None else [])
    key = (sandbox.level, tuple(str(p) for p in sandbox.hide))
    with _LOCK:
        z = _ZYGOTES.get(key)
        if z is None:
            z = _ZYGOTES[key] = Zygote(sandbox)
        return z


@atexit.register
def _close_zygotes() -> None:
    with _LOCK:
        for z in _ZYGOTES.values():
            try:
                z.close()
            except Exception:  # noqa: BLE001,S110 - the kernel is exiting anyway
                pass
        _ZYGOTES.clear()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def grade_magic(line: str) -> None:
    """``%grade [EXERCISE...] [--lang en|zh] [--submission DIR]``: grade and show the report."""
    args = shlex.split(line)
    names: list[str] = []
    options: dict[str, Any] = {}
    while args:
        a = args.pop(0)
        if a in ("--lang", "--submission", "--mode") and args:
            options[a[2:]] = args.pop(0)
        elif a.startswith("--"):
            raise ValueError(f"%grade: unknown option {a}; use --lang, --submission or --mode")
        else:
            names.append(a)
    grade(*names, **options)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext grader`` registers ``%grade``."""
    ipython.register_magic_function(grade_magic, magic_kind="line", magic_name="grade")


__all__ = ["CheckView", "GradeReport", "grade", "load_ipython_extension"]
