"""How a score is shown: the rich terminal report and the JSON document, laid out from the one
view of a result (:func:`grader.view.build`: hidden checks redacted unless ``--staff``,
messages localised, text scrubbed). Each exercise lists its failures first, then passed checks
with something to say (a margin, withheld points), then its other passes folded to one line
(one by one with ``--verbose``). Lines are wrapped by display cells, so Chinese fits 80 columns
and no character is cut.

Colours are semantic (green/red/yellow, dim for detail) so the report reads on dark and light
terminals; ``NO_COLOR`` and non-TTY output give plain text.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from grader.sanitize import scrub
from grader.view import (
    SYMBOL,
    TEXT,
    CheckView,
    ExerciseView,
    Heatmap,
    ReportView,
    build,
    check_view,
    exercise_view,
    hint_for,
    next_step,
    pad,
    shown_status,
    translate,
)

STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "yellow", "crashed": "magenta",
         "skipped": "dim", "withheld": "yellow"}
PART_STYLE = {"message": "red", "note": "dim", "input": "dim", "expected": "", "got": "", "error": "dim",
              "diagnosis": "bold yellow", "frame": "cyan", "hint": "dim italic"}

if TYPE_CHECKING:
    from grader.runner import CheckResult, ExerciseResult, RunResult


def check_notes(c: CheckResult, lang: str, exercise: str = "") -> list[str]:
    """Lines every report shows under a check, passed or not: what a quality check reached
    (its margin), why its points are withheld, what a failure is likely caused by."""
    from grader.runner import ExerciseResult

    ex = ExerciseResult(exercise, {}, 0, 0, [c])
    return check_view(ex, scrub(c), lang).notes


def make_console(file: Any = None, width: int | None = None) -> Console:
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(file=file, no_color=no_color, width=width, highlight=False, soft_wrap=False,
                   emoji=False)


def _fmt(x: float) -> str:
    return f"{x:g}"


def first_unfinished(ex: ExerciseResult) -> CheckResult | None:
    return next((c for c in ex.checks if c.status != "passed"), None)


def first_function(ex: ExerciseResult) -> str:
    c = first_unfinished(ex)
    return c.uses[0] if c and c.uses else ""


def _say(console: Console, text: str, style: str = "", indent: int = 6) -> None:
    """Indented, wrapped by display cells to the console width; nothing is cut."""
    for line in _wrap(text, max(20, console.width - indent)):
        console.print(Text(" " * indent + line, style=style), overflow="fold", crop=False)


def render_exercise(console: Console, ex: ExerciseResult | ExerciseView, lang: str = "en",
                    hints: dict | None = None, results: dict[str, ExerciseResult] | None = None,
                    student: bool = True, verbose: bool = False) -> None:
    """One exercise: its failures first, then passed checks with a note, then the plain passes
    folded to one line (listed one by one with ``verbose``)."""
    v = ex if isinstance(ex, ExerciseView) else exercise_view(
        scrub(ex), lang, not student, hints, scrub(results) if results else None)
    t = TEXT[lang if lang in TEXT else "en"]
    style = "green" if v.full else ("yellow" if v.score > 0 else "red")
    from rich.cells import cell_len

    score = f"{_fmt(v.score)}/{_fmt(v.max_score)}"
    lead = cell_len(f"{v.id}  {score}  ")
    title = _wrap(v.title, max(20, console.width - lead)) if lead + 20 <= console.width else [v.title]
    head = Text()
    head.append(v.id, style="bold")
    head.append(f"  {score}", style=f"bold {style}")
    head.append(f"  {title[0]}", style="dim")
    console.print(head, overflow="fold", crop=False)
    for line in title[1:]:
        _say(console, line, "dim", lead)
    if v.rejected:
        _say(console, f"{t['not_graded']}: {v.rejected}", "red", 2)
        return
    if v.error:  # the import error once, instead of a list of checks that were not graded
        for i, line in enumerate(v.error_lines):
            style = "red" if i == 0 else "cyan" if line.startswith(" ") else "dim"
            console.print(Text(f"  {line}", style=style), overflow="fold", crop=False)
        return
    if v.not_started:
        _say(console, f"{t['not_started']} — {t['start_here']}: {v.file}"
             + (f" · {v.start_function}" if v.start_function else ""), "yellow", 2)
        if v.fix_first:
            _say(console, t["fix_first"].format(dep=v.fix_first), "dim", 2)
        return
    for c in v.failing + v.noted:
        render_check_view(console, c)
    passes = v.plain_passes
    if verbose:
        for c in passes:
            render_check_view(console, c)
    elif passes:
        points = _fmt(sum(c.score for c in passes))
        _say(console, f"{SYMBOL['passed']} " + t["passing_folded"].format(n=len(passes), points=points),
             "green", 2)
    failed_hidden = sum(1 for c in v.checks if c.redacted and not c.passed)
    if failed_hidden:
        _say(console, t["hidden_failed"].format(n=failed_hidden), "yellow", 2)
    if v.output:
        _say(console, f"{t['output']}:", "dim", 6)
        for line in v.output.splitlines()[-5:]:
            _say(console, line[:120], "dim", 8)


def render_check(console: Console, ex: ExerciseResult, c: CheckResult, lang: str,
                 hints: dict | None) -> None:
    """One check of a result (not redacted), as :func:`render_check_view` lays it out."""
    render_check_view(console, check_view(scrub(ex), scrub(c), lang, hints))


def render_check_view(console: Console, c: CheckView) -> None:
    from rich.cells import cell_len

    points = f"{_fmt(c.score)}/{_fmt(c.max_score)}"
    title = c.title + (f"  [{c.badge}]" if c.badge else "")
    room = max(10, console.width - 4 - cell_len(points) - 1)
    lines = _wrap(title, room)
    first = Text(f"  {SYMBOL.get(c.status, '?')} ", style=STYLE.get(c.status, ""))
    first.append(pad(lines[0], room) + " ")
    first.append(points, style="dim")
    console.print(first, overflow="fold", crop=False)
    for line in lines[1:]:
        console.print(Text("    " + line), overflow="fold", crop=False)
    parts = c.explanation()
    split = next((i for i, (kind, _) in enumerate(parts) if kind in ("diagnosis", "frame", "hint")), len(parts))
    for i, (kind, line) in enumerate(parts):
        if i == split and c.heatmap is not None:
            render_heatmap(console, c.heatmap, " " * 6, c.labels)
        if kind == "status":
            continue
        style = PART_STYLE.get(kind, "")
        if kind == "message" and c.not_implemented:
            style = "yellow"
        if kind == "note" and c.withheld and line == c.withheld:
            style = "yellow"
        _say(console, line, style)
    if split == len(parts) and c.heatmap is not None:
        render_heatmap(console, c.heatmap, " " * 6, c.labels)


def _wrap(text: str, width: int) -> list[str]:
    """Wrap by display cells (a Chinese character takes two), breaking at spaces, and inside
    Chinese text next to a wide character; every character is kept, no line is wider than
    ``width`` cells (a single character wider than it excepted)."""
    from rich.cells import cell_len

    def wide(ch: str) -> bool:
        return cell_len(ch) > 1

    def cut_at(word: str, room: int, anywhere: bool) -> int:
        """The longest prefix of ``word`` that fits in ``room`` cells and ends next to a wide
        character (or anywhere, for a token too long for a line of its own); 0 if none."""
        n, used = 0, 0
        for i, ch in enumerate(word):
            used += cell_len(ch)
            if used > room:
                break
            if anywhere or wide(ch) or (i + 1 < len(word) and wide(word[i + 1])):
                n = i + 1
        return n

    out: list[str] = []
    for para in str(text).splitlines() or [""]:
        indent = para[:len(para) - len(para.lstrip(" "))][:max(0, width // 2)]  # a value's own layout
        para = para[len(indent):]
        line = ""
        first = len(out)
        for word in para.split(" "):
            while True:
                candidate = f"{line} {word}" if line else word
                if cell_len(candidate) <= width:
                    line = candidate
                    break
                room = width - cell_len(line) - (1 if line else 0)
                n = cut_at(word, room, anywhere=False) if any(wide(ch) for ch in word) else 0
                if n:  # Chinese text: fill the line, go on on the next
                    out.append(f"{line} {word[:n]}" if line else word[:n])
                    line, word = "", word[n:]
                    continue
                if line:
                    out.append(line)
                    line = ""
                    continue
                n = max(1, cut_at(word, width, anywhere=True))  # a token longer than a line
                out.append(word[:n])
                word = word[n:]
        out.append(line)
        if indent and len(out) > first:
            out[first] = indent + out[first]
    return [line.rstrip() for line in out]


SHADES = "·░▒▓█"


def render_heatmap(console: Console, heat: dict | Heatmap, pad_: str, lang: str | dict) -> None:
    """Expected vs got (one matrix each) side by side, one shaded block per entry, under a
    caption that says which tensor and which axes; nan / inf show as a red ``!``."""
    from rich.cells import cell_len

    t = lang if isinstance(lang, dict) else TEXT[lang if lang in TEXT else "en"]
    if isinstance(heat, Heatmap):
        exp, got, caption = heat.expected, heat.got, heat.caption
    else:
        exp, got, caption = heat["expected"], heat["got"], ""
    if caption:
        _say(console, caption, "dim", len(pad_))
    width = len(exp[0]) if exp and isinstance(exp[0], (list, tuple)) else 1
    col = max(width + 3, cell_len(t["expected"]) + 2)
    label = Text(pad_)
    label.append(pad(t["expected"], col), style="dim")
    label.append(t["got"], style="dim")
    console.print(label)
    finite = [v for r in exp + got for v in (r if isinstance(r, (list, tuple)) else [r])
              if isinstance(v, (int, float)) and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (hi - lo) or 1.0
    for re_, rg in zip(exp, got):
        line = Text(pad_)
        for rows in (re_, rg):
            rows = rows if isinstance(rows, (list, tuple)) else [rows]
            for v in rows:
                if not (isinstance(v, (int, float)) and math.isfinite(v)):  # nan / inf: a mark of its own
                    line.append("!", style="bold red")
                    continue
                level = int(round((v - lo) / span * (len(SHADES) - 1)))
                line.append(SHADES[max(0, min(level, len(SHADES) - 1))], style="cyan")
            line.append(" " * max(1, col - len(rows)))
        console.print(line)
    if caption:
        _say(console, t["heat_legend"], "dim", len(pad_))


def render_summary(console: Console, result: RunResult | ReportView, lang: str = "en",
                   student: bool = True) -> None:
    v = build(result, lang, not student)
    t = v.labels
    console.print()
    total = Text(f"{t['score']}: {_fmt(v.score)}/{_fmt(v.max_score)}", style="bold")
    total.append(f"   {v.meta_line}", style="dim")
    console.print(total, overflow="fold", crop=False)
    for line in v.problem:
        _say(console, line, "bold red", 0)
    if v.rejected:
        _say(console, f"{t['rejected']}: {v.rejected}", "bold red", 0)
    if v.grader_errors:
        _say(console, t["grader_error"], "bold magenta", 0)
        for e in v.grader_errors:
            _say(console, (e.splitlines() or [""])[0], "magenta", 2)
    _say(console, v.next_step, "bold", 0)


def render(result: RunResult | ReportView, console: Console, lang: str = "en", hints: dict | None = None,
           student: bool = True, verbose: bool = False) -> None:
    """The terminal report: every exercise, then the summary (``student``: hidden checks redacted)."""
    v = build(result, lang, not student, hints)
    for ex in v.exercises:
        render_exercise(console, ex, v.lang, verbose=verbose)
    render_summary(console, v, v.lang)


# --- JSON -----------------------------------------------------------------------------------


def to_json(result: RunResult, student: bool = True, lang: str = "en") -> dict[str, Any]:
    """The stable JSON document (DESIGN.md schema, plus details), from the same view as every
    report: in the student view (the default) hidden checks give their status and points only."""
    from grader.checks import margin_text

    v = build(result, lang, not student)
    exercises = []
    for ex in v.exercises:
        checks = []
        for c in ex.checks:
            entry = {
                "name": c.id, "title": c.title, "status": c.result_status, "score": c.score,
                "max_score": c.max_score, "message": c.message if not c.passed else "\n".join(c.notes),
                "diagnosis": c.diagnosis, "hidden": c.hidden, "seconds": c.seconds,
                "withheld": c.withheld, "withheld_zh": c.withheld_zh,
            }
            if c.cause is not None:
                entry["cause"] = dict(c.cause)
            if c.margin is not None:
                entry["margin"] = {**c.margin, "text": margin_text(c.margin, "en"),
                                   "text_zh": margin_text(c.margin, "zh")}
            if not c.redacted and not c.passed:
                entry["details"] = {"input": c.input, "expected": c.expected, "got": c.got,
                                    "error": c.error, "frames": c.frame_data,
                                    "not_implemented": c.not_implemented, "diagnosis_zh": c.diagnosis_zh}
            checks.append(entry)
        exercises.append({"id": ex.id, "title": ex.title, "score": ex.score, "max_score": ex.max_score,
                          "not_started": ex.not_started, "seconds": ex.seconds, "checks": checks,
                          "output": ex.output, "rejected": ex.rejected, "error": ex.error,
                          "hidden_checks": ex.hidden_total, "hidden_failed": ex.hidden_failed})
    return {
        "score": v.score, "max_score": v.max_score, "mode": v.mode, "seed": v.seed, "sandbox": v.sandbox,
        "versions": v.versions, "seconds": v.seconds, "grader_errors": v.grader_errors,
        "rejected": v.rejected, "exercises": exercises, "problem": v.problem_text, "lang": v.lang,
        "view": "staff" if v.staff else "student", "next": v.next_step,
    }


def write_atomic(path: Path, text: str) -> None:
    """Write a report in one step: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _finite(value: Any) -> Any:
    """JSON has no nan / inf: such a number (a quality check's metric can be nan) becomes its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_text(result: RunResult, student: bool = True, lang: str = "en") -> str:
    return json.dumps(_finite(to_json(result, student, lang)), indent=2, ensure_ascii=False, allow_nan=False,
                      default=str)


__all__ = ["SYMBOL", "STYLE", "TEXT", "build", "check_notes", "first_function", "first_unfinished", "hint_for",
           "json_text", "make_console", "next_step", "render", "render_check", "render_check_view",
           "render_exercise", "render_heatmap", "render_summary", "shown_status", "to_json", "translate",
           "write_atomic"]
