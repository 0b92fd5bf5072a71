"""How a score is shown: the rich terminal report and the JSON document, from one result.

Colours are semantic (green/red/yellow, dim for detail) so the report reads on dark and light
terminals; ``NO_COLOR`` and non-TTY output give plain text.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.runner import CheckResult, ExerciseResult, RunResult
from grader.sanitize import scrub

SYMBOL = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⏱", "crashed": "☠", "skipped": "-",
          "withheld": "○"}
STYLE = {"passed": "green", "failed": "red", "error": "red", "timeout": "yellow", "crashed": "magenta",
         "skipped": "dim", "withheld": "yellow"}


def shown_status(c: CheckResult) -> str:
    """The status a report shows: a passed check whose points are withheld shows as such."""
    return "withheld" if c.status == "passed" and c.withheld else c.status


def check_notes(c: CheckResult, lang: str, exercise: str = "") -> list[str]:
    """Lines every report shows under a check, passed or not: what a quality check reached
    (its margin), why its points are withheld."""
    from grader.checks import margin_text

    notes = []
    if isinstance(c.margin, dict):
        notes.append(margin_text(c.margin, lang))
    elif c.status == "passed" and c.message:  # what a passing check says it achieved
        notes.append(translate(c.message, lang, exercise))
    if c.withheld:
        notes.append(translate(c.withheld, lang, exercise))
    return notes

TEXT = {
    "en": {
        "not_started": "not started", "start_here": "start here", "input": "smallest failing input",
        "expected": "expected", "got": "got", "your_code": "your code", "hint": "hint",
        "next": "next", "all_done": "all exercises pass: well done",
        "hidden": "hidden check", "hidden_failed": "{n} hidden check(s) failed",
        "fix_first": "fix {dep} first (this exercise builds on it)", "output": "your program printed",
        "score": "score", "grader_error": "grader error (not your fault; tell the course staff)",
        "not_implemented": "not implemented yet",
        "nothing_graded": "nothing was graded: tell the course staff (this is not a problem with your code)",
        "rejected": "submission rejected, not graded", "not_graded": "not graded",
    },
    "zh": {
        "not_started": "尚未开始", "start_here": "从这里开始", "input": "最小的失败输入",
        "expected": "期望", "got": "实际", "your_code": "你的代码", "hint": "提示",
        "next": "下一步", "all_done": "所有练习均已通过，做得好",
        "hidden": "隐藏检查", "hidden_failed": "{n} 个隐藏检查未通过",
        "fix_first": "请先修好 {dep}（本练习依赖它）", "output": "你的程序输出",
        "score": "得分", "grader_error": "评分器错误（不是你的问题，请告知课程助教）",
        "not_implemented": "尚未实现",
        "nothing_graded": "没有评分：请告知课程助教（这不是你的代码的问题）",
        "rejected": "提交被拒绝，未评分", "not_graded": "未评分",
    },
}


def translate(message: str, lang: str, exercise: str = "") -> str:
    """The Chinese report's version of a failure message: the exercise's catalog
    (``grader/course/i18n/<id>.toml``: regular expressions with named groups and their
    Chinese, ``\\g<name>`` for the parts that vary), then the engine's (``engine.toml``)."""
    if lang != "zh" or not message:
        return message
    for pattern, zh in _catalog(exercise) + _catalog("engine"):
        message = pattern.sub(zh, message)
    return message


@functools.lru_cache(maxsize=64)
def _catalog(name: str) -> list[tuple[re.Pattern, str]]:
    from grader.metadata import COURSE_DIR, tomllib

    path = COURSE_DIR / "i18n" / f"{name}.toml"
    if not name or not path.is_file():
        return []
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("zh", [])
    return [(re.compile(e["en"]), e["zh"]) for e in entries]


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


def render_exercise(console: Console, ex: ExerciseResult, lang: str = "en", hints: dict | None = None,
                    results: dict[str, ExerciseResult] | None = None, student: bool = True) -> None:
    t = TEXT[lang]
    ex = scrub(ex)  # every string a submission could have influenced, made harmless
    full = ex.score >= ex.max_score
    style = "green" if full else ("yellow" if ex.score > 0 else "red")
    head = Text()
    head.append(f"{ex.id}", style="bold")
    head.append(f"  {_fmt(ex.score)}/{_fmt(ex.max_score)}", style=f"bold {style}")
    head.append(f"  {ex.title.get(lang) or ex.title.get('en', '')}", style="dim")
    console.print(head)
    if ex.rejected:
        console.print(Text(f"  {t['not_graded']}: {ex.rejected}", style="red"))
        return
    if ex.not_started:
        fn = first_function(ex)
        console.print(Text(f"  {t['not_started']} — {t['start_here']}: {ex.file}"
                           + (f" · {fn}" if fn else ""), style="yellow"))
        deps = [d for d in ex.after if results and d in results and results[d].score < results[d].max_score]
        if deps:
            console.print(Text("  " + t["fix_first"].format(dep=deps[0]), style="dim"))
        return
    hidden_failed = 0
    for c in ex.checks:
        if c.hidden and student:
            if c.status != "passed":
                hidden_failed += 1
            continue
        render_check(console, ex, c, lang, hints)
    if hidden_failed:
        console.print(Text("  " + t["hidden_failed"].format(n=hidden_failed), style="yellow"))
    if ex.output.strip() and any(c.status != "passed" for c in ex.checks):
        tail = ex.output.strip().splitlines()[-5:]
        console.print(Text(f"      {t['output']}:", style="dim"))
        for line in tail:
            console.print(Text(f"        {line[:120]}", style="dim"))


def render_check(console: Console, ex: ExerciseResult, c: CheckResult, lang: str,
                 hints: dict | None) -> None:
    t = TEXT[lang]
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(width=3, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_column(justify="right", no_wrap=True)
    title = Text(c.title_zh if lang == "zh" and c.title_zh else c.title)
    status = shown_status(c)
    if status not in ("passed", "failed", "withheld"):
        title.append(f"  [{c.status}]", style=STYLE.get(c.status, ""))
    grid.add_row(Text(f"  {SYMBOL.get(status, '?')}", style=STYLE.get(status, "")), title,
                 Text(f"{_fmt(c.score)}/{_fmt(c.max_score)}", style="dim"))
    console.print(grid)

    def say(text: str, style: str = "") -> None:
        """Indented, wrapped to the console width without trailing blanks."""
        for line in _wrap(text, max(20, console.width - 6)):
            console.print(Text("      " + line, style=style), overflow="fold")

    notes = check_notes(c, lang, ex.id)
    f = c.failure
    if c.status == "passed" or f is None:
        for i, note in enumerate(notes):  # the margin (dim), then why points are withheld (yellow)
            say(note, "yellow" if c.withheld and i == len(notes) - 1 else "dim")
        return
    msg = t["not_implemented"] if f.not_implemented else translate(f.message, lang, ex.id)
    say(msg, "red" if not f.not_implemented else "yellow")
    for note in notes:  # what a quality check reached
        say(note, "dim")
    if f.not_implemented:
        return
    if f.input:
        say(f"{t['input']}: {f.input}", "dim")
    if f.expected or f.got:
        width = max(len(t["expected"]), len(t["got"]))
        say(f"{t['expected']:<{width}} {f.expected}")
        say(f"{t['got']:<{width}} {f.got}")
    if f.error:
        say(translate(f.error, lang, ex.id), "dim")
    if f.heatmap:
        render_heatmap(console, f.heatmap, " " * 6, lang)
    if f.diagnosis:
        sentence = f.diagnosis_zh if lang == "zh" and f.diagnosis_zh else f.diagnosis
        say(f"→ {sentence}", "bold yellow")
    for fname, lineno, _func, code in f.frames[-3:]:
        say(f"{t['your_code']}: exercises/{fname}:{lineno}  {code}", "cyan")
    hint = hint_for(hints, c.uses[0] if c.uses else "", 0, lang)
    if hint:
        say(f"{t['hint']}: {hint}", "dim italic")


def _wrap(text: str, width: int) -> list[str]:
    """Wrap by display cells (Chinese characters take two), breaking at spaces when possible."""
    from rich.cells import cell_len

    out: list[str] = []
    for para in str(text).splitlines() or [""]:
        line = ""
        for word in para.split(" "):
            candidate = f"{line} {word}" if line else word
            if cell_len(candidate) <= width:
                line = candidate
                continue
            if line:
                out.append(line)
            while cell_len(word) > width:  # a long token (or CJK text without spaces)
                cut = width
                while cell_len(word[:cut]) > width:
                    cut -= 1
                out.append(word[:cut])
                word = word[cut:]
            line = word
        out.append(line)
    return out


SHADES = "·░▒▓█"


def render_heatmap(console: Console, heat: dict, pad: str, lang: str) -> None:
    """Expected vs got attention weights side by side, one block per entry."""
    exp, got = heat["expected"], heat["got"]
    t = TEXT[lang]
    width = len(exp[0]) if exp else 0
    col = max(width + 3, len(t["expected"]) + 2)
    label = Text(pad)
    label.append(f"{t['expected']:<{col}}", style="dim")
    label.append(t["got"], style="dim")
    console.print(label)
    finite = [v for r in exp + got for v in r if isinstance(v, (int, float)) and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (hi - lo) or 1.0
    for re_, rg in zip(exp, got):
        line = Text(pad)
        for rows in (re_, rg):
            for v in rows:
                if not (isinstance(v, (int, float)) and math.isfinite(v)):  # nan / inf: a mark of its own
                    line.append("!", style="bold red")
                    continue
                level = int(round((v - lo) / span * (len(SHADES) - 1)))
                line.append(SHADES[max(0, min(level, len(SHADES) - 1))], style="cyan")
            line.append(" " * (col - len(rows)))
        console.print(line)


def hint_for(hints: dict | None, fn: str, level: int, lang: str) -> str:
    if not hints or fn not in hints:
        return ""
    levels = hints[fn]
    if not levels:
        return ""
    h = levels[min(level, len(levels) - 1)]
    return h.get(lang) or h.get("en", "")


def next_step(result: RunResult, lang: str = "en") -> str:
    t = TEXT[lang]
    if result.problem:
        return f"{t['next']}: " + translate(result.problem.splitlines()[-1], lang)
    if result.grader_errors and not result.exercises:
        return t["nothing_graded"]
    if result.rejected:
        return f"{t['rejected']}: {result.rejected}"
    by_id = {e.id: e for e in result.exercises}
    for ex in result.exercises:
        if ex.score < ex.max_score:
            deps = [d for d in ex.after if d in by_id and by_id[d].score < by_id[d].max_score]
            if deps:
                return f"{t['next']}: {t['fix_first'].format(dep=deps[0])}"
            fn = first_function(ex)
            return f"{t['next']}: {ex.file}" + (f" · {fn}" if fn else "") + f"   (grade hint {ex.id})"
    return t["all_done"]


def render_summary(console: Console, result: RunResult, lang: str = "en") -> None:
    t = TEXT[lang]
    result = scrub(result)
    console.print()
    total = Text(f"{t['score']}: {_fmt(result.score)}/{_fmt(result.max_score)}", style="bold")
    total.append(f"   mode {result.mode} · seed {result.seed} · sandbox {result.sandbox} · "
                 f"{result.seconds:.1f} s", style="dim")
    console.print(total)
    if result.problem:
        for line in result.problem.splitlines()[:-1]:
            console.print(Text(translate(line, lang), style="bold red"), overflow="fold")
    if result.rejected:
        console.print(Text(f"{t['rejected']}: {result.rejected}", style="bold red"))
    if result.grader_errors:
        console.print(Text(t["grader_error"], style="bold magenta"))
        for e in result.grader_errors:
            console.print(Text("  " + (e.splitlines() or [""])[0], style="magenta"))
    console.print(Text(next_step(result, lang), style="bold"))


def render(result: RunResult, console: Console, lang: str = "en", hints: dict | None = None,
           student: bool = True) -> None:
    result = scrub(result)
    by_id = {e.id: e for e in result.exercises}
    for ex in result.exercises:
        render_exercise(console, ex, lang, (hints or {}).get(ex.id), by_id, student)
    render_summary(console, result, lang)


# --- JSON -----------------------------------------------------------------------------------


def to_json(result: RunResult, student: bool = False) -> dict[str, Any]:
    """The stable JSON document (DESIGN.md schema, plus details)."""
    result = scrub(result)
    exercises = []
    for ex in result.exercises:
        checks = []
        for c in ex.checks:
            hide = c.hidden and student
            f = c.failure
            entry = {
                "name": "hidden check" if hide else c.id,
                "title": "hidden check" if hide else c.title,
                "status": c.status,
                "score": c.score,
                "max_score": c.max_score,
                "message": "" if hide else c.message,
                "diagnosis": "" if hide or f is None else f.diagnosis,
                "hidden": c.hidden,
                "seconds": c.seconds,
                "withheld": "" if hide else c.withheld,
                "withheld_zh": "" if hide or not c.withheld else translate(c.withheld, "zh", ex.id),
            }
            if isinstance(c.margin, dict) and not hide:
                from grader.checks import margin_text

                entry["margin"] = {**c.margin, "text": margin_text(c.margin, "en"),
                                   "text_zh": margin_text(c.margin, "zh")}
            if f is not None and not hide:
                entry["details"] = {"input": f.input, "expected": f.expected, "got": f.got,
                                    "error": f.error, "frames": f.frames,
                                    "not_implemented": f.not_implemented, "diagnosis_zh": f.diagnosis_zh}
            checks.append(entry)
        exercises.append({"id": ex.id, "title": ex.title, "score": ex.score, "max_score": ex.max_score,
                          "not_started": ex.not_started, "seconds": ex.seconds, "checks": checks,
                          "output": "" if student else ex.output, "rejected": ex.rejected})
    return {
        "score": result.score, "max_score": result.max_score, "mode": result.mode,
        "seed": result.seed, "sandbox": result.sandbox, "versions": result.versions,
        "seconds": result.seconds, "grader_errors": result.grader_errors, "rejected": result.rejected,
        "exercises": exercises, "problem": result.problem,
    }


def write_atomic(path: Path, text: str) -> None:
    """Write a report in one step: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def json_text(result: RunResult, student: bool = False) -> str:
    return json.dumps(to_json(result, student), indent=2, ensure_ascii=False, allow_nan=False,
                      default=str)
