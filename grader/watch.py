"""Watch mode: re-grade an exercise each time its file is saved, with one warm zygote.

Polls modification times (no extra dependency, works on every OS); Ctrl-C stops cleanly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from grader.host.pool import Zygote
from grader.host.sandbox import Sandbox
from grader.metadata import Exercise
from grader.reports import TEXT, render_exercise, render_summary
from grader.runner import Runner
from grader.sanitize import clean

POLL_SECONDS = 0.4


def _mtimes(submission: Path, exercises: list[Exercise]) -> dict[str, float]:
    out = {}
    for ex in exercises:
        try:
            out[ex.id] = (submission / f"{ex.id}.py").stat().st_mtime_ns
        except OSError:
            out[ex.id] = -1
    return out


def next_failing(results: list, lang: str, staff: bool = False) -> str:
    """The next failing check over every exercise graded so far (never "all pass" while one
    fails), localised as in the report; a hidden check is not named unless ``staff``."""
    from grader.view import _cause, translate

    t = TEXT[lang]
    for ex in results:
        hidden = 0
        for c in ex.checks:
            hidden += bool(getattr(c, "hidden", False))
            if c.status == "passed":
                continue
            if getattr(c, "hidden", False) and not staff:
                title, msg = t["hidden_name"].format(i=hidden, ex=ex.id), t["hidden_check_failed"]
            else:
                title = c.title_zh if lang == "zh" and c.title_zh else translate(c.title, lang, ex.id)
                msg = (t["not_implemented"] if c.failure and c.failure.not_implemented
                       else translate(c.message, lang, ex.id))
                if getattr(c, "cause", None):  # the pointer at the cause, as the report shows it: "fix X first"
                    msg = _cause(c)["text_zh" if lang == "zh" else "text"] or msg
            return clean(f"{t['next']}: {ex.id} · {title} — {msg[:160]}")
    return t["all_done"]


def dependents(changed: list[Exercise], exercises: list[Exercise]) -> list[Exercise]:
    """The changed exercises and every exercise that builds on one of them (``after``, transitively),
    in course order."""
    todo = {e.id for e in changed}
    grew = True
    while grew:
        grew = False
        for ex in exercises:
            if ex.id not in todo and todo & set(ex.after):
                todo.add(ex.id)
                grew = True
    return [ex for ex in exercises if ex.id in todo]


def graded_line(graded: list, total: int, lang: str) -> str:
    passing = [e.id for e in graded if e.score == e.max_score]
    failing = [e.id for e in graded if e.score != e.max_score]
    rest = total - len(graded)
    if lang == "zh":
        parts = ([f"{'、'.join(passing)} 通过"] if passing else []) + \
            ([f"{'、'.join(failing)} 未通过"] if failing else [])
        return "；".join(parts) + (f"；其余 {rest} 个练习本次未评分" if rest else "")
    parts = ([f"{', '.join(passing)} pass{'es' if len(passing) == 1 else ''}"] if passing else []) + \
        ([f"{', '.join(failing)} fail{'s' if len(failing) == 1 else ''}"] if failing else [])
    return "; ".join(parts) + (f"; {rest} other exercise{'s' if rest != 1 else ''} not graded" if rest else "")


def watch_loop(submission: Path, exercises: list[Exercise], *, mode: str, reference: Path | None,
               seed: int | None, sandbox: Sandbox, console: Console, lang: str, hints: dict[str, Any],
               max_rounds: int | None = None, staff: bool = False) -> int:
    zygote = Zygote(sandbox)
    rounds = 0

    by_id: dict[str, Any] = {}

    def grade(selected: list[Exercise]):
        runner = Runner(submission, selected, mode=mode, reference=reference, seed=seed,
                        sandbox=sandbox, zygote=zygote)
        runner.earlier = list(by_id.values())  # what the re-graded exercises build on
        return runner.run()

    try:
        result = grade(exercises)
        by_id.update({e.id: e for e in result.exercises})
        for ex in result.exercises:
            render_exercise(console, ex, lang, hints.get(ex.id), by_id, student=not staff)
        render_summary(console, result, lang, student=not staff)
        seen = _mtimes(submission, exercises)
        console.print(Text(f"watching {submission} — save a file to re-grade it, Ctrl-C to stop", style="dim"))
        while max_rounds is None or rounds < max_rounds:
            time.sleep(POLL_SECONDS)
            now = _mtimes(submission, exercises)
            changed = [ex for ex in exercises if now[ex.id] != seen[ex.id]]
            seen = now
            if not changed:
                continue
            rounds += 1
            result = grade(dependents(changed, exercises))
            for ex in result.exercises:
                by_id[ex.id] = ex
                render_exercise(console, ex, lang, hints.get(ex.id), by_id, student=not staff)
            console.print(Text(graded_line(result.exercises, len(exercises), lang), style="dim"))
            console.print(Text(next_failing([by_id[e.id] for e in exercises if e.id in by_id], lang, staff),
                               style="bold"))
    except KeyboardInterrupt:
        console.print(Text("stopped", style="dim"))
    finally:
        zygote.close()
    return 0
