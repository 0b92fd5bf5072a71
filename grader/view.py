"""One view of a result, for every report: redacted once, localised once, scrubbed once.

:func:`build` turns a :class:`~grader.runner.RunResult` into a :class:`ReportView`:

- **redaction** (``staff=False``, the default everywhere): a hidden check keeps only its
  status and points (a placeholder named "hidden check N of EXERCISE"); its title, message,
  input, values, margin and note are dropped, an exercise with hidden checks shows no printed
  output, and a grader error that names a hidden check names the placeholder instead.
  ``staff=True`` (``grade --staff``) shows everything.
- **localisation**: every message an engine or a check wrote (a :class:`grader.messages.Msg`:
  an id and its arguments) is rendered from the report language's catalog
  (``grader/course/i18n/<lang>/``) exactly here, and every label comes from :data:`TEXT`;
  renderers never translate.
- **sanitising**: the result is scrubbed (:func:`grader.sanitize.scrub`) before anything is read
  and each field is cut at :data:`FIELD_LIMIT` characters; renderers only escape for their format.

Two things a report says once are built here too: the pointer at a failure's likely cause
("fix X first", :attr:`CheckView.cause`, the check's last note; it replaces the check's hint)
and an exercise's import error (:attr:`ExerciseView.error`, shown instead of its checks).

The renderers (``grader.reports`` for the terminal and JSON, ``grader.formats`` for the rest)
only lay the view out. The explanation of a check (:meth:`CheckView.explanation`) is built here
once, in the order every report shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader import sanitize
from grader.messages import localise

FIELD_LIMIT = 4000  # characters of one untrusted field kept in a report

def _report_words() -> dict[str, dict[str, str]]:
    """The report's own words, one catalog per language (``grader/course/i18n/<lang>/report.toml``)."""
    from grader.messages import LANGS, catalog

    return {lang: dict(catalog(lang, "report")) for lang in LANGS}


TEXT: dict[str, dict[str, str]] = _report_words()

SYMBOL = {"passed": "✓", "failed": "✗", "error": "!", "timeout": "⏱", "crashed": "☠", "skipped": "-",
          "withheld": "○"}

if TYPE_CHECKING:
    from grader.runner import CheckResult, ExerciseResult, RunResult


def labels(lang: str) -> dict[str, str]:
    return TEXT[lang if lang in TEXT else "en"]


# --- localisation ----------------------------------------------------------------------------


def translate(message: Any, lang: str, exercise: str = "") -> str:
    """What the report shows for an engine or check message in ``lang``: a :class:`Msg` rendered
    from that language's catalog (``grader/course/i18n/<lang>/``); any other text (the student's
    own exception message, a value) as it is. ``exercise`` is kept for callers; a message knows
    its catalog."""
    return localise(message, lang)


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` display cells (a Chinese character takes two)."""
    from rich.cells import cell_len

    return text + " " * max(0, width - cell_len(text))


def _fmt(x: float) -> str:
    return f"{x:g}"


def anchor(*parts: str) -> str:
    """An HTML id from an exercise id (and a check id): ``ex-attention--sdpa_reference``."""
    return "--".join(["ex-" + re.sub(r"[^A-Za-z0-9_-]", "-", parts[0])]
                     + [re.sub(r"[^A-Za-z0-9_-]", "-", p) for p in parts[1:]])


# --- the view ----------------------------------------------------------------------------------


@dataclass
class Heatmap:
    expected: list[list[float]]
    got: list[list[float]]
    caption: str  # which tensor, which axes (localised)


@dataclass
class CheckView:
    id: str
    title: str
    status: str  # what the report shows: passed | withheld | failed | error | timeout | crashed | skipped
    result_status: str  # the check's own status (a withheld check passed)
    score: float
    max_score: float
    kind: str = ""
    hidden: bool = False
    redacted: bool = False  # a hidden check in the student view: status and points only
    seconds: float = 0.0
    anchor: str = ""
    badge: str = ""  # the status in words, for statuses other than passed / failed / withheld
    message: str = ""  # what went wrong (localised), "" for a passed check
    not_implemented: bool = False
    notes: list[str] = field(default_factory=list)  # a passed note, the margin, why points are withheld, the cause
    withheld: str = ""  # why the points are withheld (localised; also the last note)
    withheld_zh: str = ""  # the same in Chinese, and the diagnosis (the JSON document carries both)
    diagnosis_zh: str = ""
    margin: dict | None = None
    # what the failure is likely caused by ("fix X first"), shown as the last note instead of
    # the hint: the result's pointer plus its sentence in English ("text") and Chinese ("text_zh")
    cause: dict | None = None
    input: str = ""
    expected: str = ""
    got: str = ""
    error: str = ""
    diagnosis: str = ""
    frames: list[str] = field(default_factory=list)  # "your code: exercises/f.py:12  line"
    frame_data: list = field(default_factory=list)  # the frames as (file, line, function, code)
    heatmap: Heatmap | None = None
    hint: str = ""
    labels: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return self.result_status == "passed"

    def explanation(self) -> list[tuple[str, str]]:
        """(kind, line) pairs, in the order every report shows them: the status in words, the
        message, the notes, then for a check that did not pass its input, expected and got,
        error, diagnosis, frames and hint. Kinds: status message note input expected got error
        diagnosis frame hint."""
        t = self.labels
        if self.passed or self.redacted:
            return [("note", n) for n in self.notes] if not self.redacted else []
        parts: list[tuple[str, str]] = [("status", f"[{self.badge}]")] if self.badge else []
        parts.append(("message", self.message))
        parts += [("note", n) for n in self.notes]
        if self.not_implemented:
            return parts
        if self.input:
            parts.append(("input", f"{t['input']}: {self.input}"))
        if self.expected or self.got:
            from rich.cells import cell_len

            width = max(cell_len(t["expected"]), cell_len(t["got"]))
            for kind, value in (("expected", self.expected), ("got", self.got)):
                value = value.replace("\n", "\n" + " " * (width + 1))  # a matrix keeps its columns
                parts.append((kind, f"{pad(t[kind], width)} {value}".rstrip()))
        if self.error:
            parts.append(("error", self.error))
        if self.diagnosis:
            parts.append(("diagnosis", f"→ {self.diagnosis}"))
        parts += [("frame", line) for line in self.frames]
        if self.hint:
            parts.append(("hint", f"{t['hint']}: {self.hint}"))
        return parts

    def text(self) -> str:
        """The explanation as plain text (Gradescope's and JUnit's body)."""
        return "\n".join(line for _, line in self.explanation())


@dataclass
class ExerciseView:
    id: str
    title: str
    score: float
    max_score: float
    checks: list[CheckView]  # every check, redacted placeholders included, in course order
    file: str = ""
    not_started: bool = False
    rejected: str = ""
    seconds: float = 0.0
    anchor: str = ""
    output: str = ""  # the tail of what the program printed ("" in the student view with hidden checks)
    hidden_total: int = 0
    hidden_failed: int = 0
    start_function: str = ""  # the function of the first unfinished check
    fix_first: str = ""  # an exercise this one builds on that does not pass yet
    # why the module does not import (localised message, then where, the line and its caret),
    # shown once instead of the check list; error_note: how many checks that leaves ungraded
    error: str = ""
    error_note: str = ""

    @property
    def error_lines(self) -> list[str]:
        """The import error as every report shows it: message, where and caret, the count."""
        return [*self.error.splitlines(), self.error_note] if self.error else []

    @property
    def full(self) -> bool:
        return self.score >= self.max_score

    @property
    def shown(self) -> list[CheckView]:
        """The checks a report lists (not the redacted ones), failures first."""
        visible = [c for c in self.checks if not c.redacted]
        return [c for c in visible if not c.passed] + [c for c in visible if c.passed]

    @property
    def failing(self) -> list[CheckView]:
        return [c for c in self.checks if not c.redacted and not c.passed]

    @property
    def noted(self) -> list[CheckView]:
        """Passed checks with something to say (a margin, withheld points): never folded away."""
        return [c for c in self.checks if not c.redacted and c.passed and c.notes]

    @property
    def plain_passes(self) -> list[CheckView]:
        """Passed checks with nothing to add: one folded line unless ``--verbose``."""
        return [c for c in self.checks if not c.redacted and c.passed and not c.notes]


@dataclass
class ReportView:
    lang: str
    staff: bool
    score: float
    max_score: float
    mode: str
    seed: int
    sandbox: str
    seconds: float
    versions: dict[str, str]
    exercises: list[ExerciseView]
    grader_errors: list[str]
    problem: list[str]  # why nothing was graded, translated, one entry a line (the next step excluded)
    problem_text: str  # all of it, the next step included
    rejected: str
    next_step: str
    labels: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def meta_line(self) -> str:
        t = self.labels
        return (f"{t['mode']} {self.mode} · {t['seed']} {self.seed} · {t['sandbox']} {self.sandbox} · "
                f"{t['time']} {self.seconds:.1f} s")

    @property
    def versions_line(self) -> str:
        v = self.versions or {}
        keys = [k for k in ("grader", "torch", "numpy", "python") if k in v]
        keys += [k for k in v if k not in keys and k != "sandbox"]
        return " · ".join(f"{k} {v[k]}" for k in keys)

    @property
    def failures(self) -> list[tuple[ExerciseView, CheckView]]:
        return [(ex, c) for ex in self.exercises for c in ex.failing]


def _clean(value: Any) -> str:
    return sanitize.clean(value, FIELD_LIMIT) if value else ""


def shown_status(c: CheckResult) -> str:
    """The status a report shows: a passed check whose points are withheld shows as such."""
    return "withheld" if c.status == "passed" and c.withheld else c.status


def _frame_lines(frames: list, t: dict[str, str]) -> list[str]:
    out = []
    for fr in list(frames or [])[-3:]:
        if isinstance(fr, (list, tuple)) and len(fr) >= 4:
            fname, lineno, _func, code = fr[:4]
            out.append(_clean(f"{t['your_code']}: exercises/{fname}:{lineno}  {code}"))
        else:
            out.append(_clean(f"{t['your_code']}: {fr}"))
    return out


def hint_for(hints: dict | None, fn: str, level: int, lang: str) -> str:
    if not hints or fn not in hints:
        return ""
    levels = hints[fn]
    if not levels:
        return ""
    h = levels[min(level, len(levels) - 1)]
    return h.get(lang) or h.get("en", "")


def _heatmap(heat: Any, t: dict[str, str], lang: str, ex_id: str) -> Heatmap | None:
    """The expected-vs-got picture, labelled; none when it would show no difference."""
    if not isinstance(heat, dict):
        return None
    exp, got = heat.get("expected") or [], heat.get("got") or []
    if not exp or exp == got:
        return None
    rows, cols = len(exp), len(exp[0]) if isinstance(exp[0], (list, tuple)) else 1
    tensor = str(heat.get("tensor") or "output") + str(heat.get("index") or "")
    shape = heat.get("shape")
    shape = t["heat_shape"].format(shape=list(shape)) if isinstance(shape, (list, tuple)) else ""
    caption = t["heat_caption"].format(tensor=tensor, shape=shape, rows=rows, cols=cols)
    return Heatmap(exp, got, _clean(caption))


def check_view(ex: ExerciseResult, c: CheckResult, lang: str, hints: dict | None = None) -> CheckView:
    """One check, localised (never redacted: :func:`build` decides that)."""
    from grader.checks import margin_text

    t = labels(lang)
    status = shown_status(c)
    title = c.title_zh if lang == "zh" and c.title_zh else translate(c.title or c.id, lang, ex.id)
    v = CheckView(id=c.id, title=_clean(title), status=status, result_status=c.status, score=c.score,
                  max_score=c.max_score, kind=c.kind, hidden=c.hidden, seconds=c.seconds,
                  anchor=anchor(ex.id, c.id), labels=t, margin=c.margin if isinstance(c.margin, dict) else None)
    if status not in ("passed", "failed", "withheld"):
        v.badge = t.get(f"status_{status}", status)
    if v.margin is not None:
        v.notes.append(_clean(margin_text(v.margin, lang)))
    elif c.status == "passed" and c.message:  # what a passing check says it achieved
        v.notes.append(_clean(translate(c.message, lang, ex.id)))
    if c.withheld:
        v.withheld = _clean(translate(c.withheld, lang, ex.id))
        v.withheld_zh = _clean(translate(c.withheld, "zh", ex.id))
        v.notes.append(v.withheld)
    if c.status == "passed":
        return v
    if c.cause:
        v.cause = _cause(c)
        note = v.cause["text_zh" if lang == "zh" else "text"]
        if note:
            v.notes.append(note)
    f = c.failure
    if f is not None and f.not_implemented:
        v.not_implemented, v.message = True, t["not_implemented"]
        return v
    v.message = _clean(translate((f.message if f is not None else "") or c.message or c.status, lang, ex.id))
    if f is not None:
        v.input = _clean(translate(f.input, lang, ex.id))
        v.expected, v.got = _clean(f.expected), _clean(f.got)
        v.error = _clean(translate(f.error, lang, ex.id))
        v.diagnosis = _clean(f.diagnosis_zh if lang == "zh" and f.diagnosis_zh else f.diagnosis)
        v.diagnosis_zh = _clean(f.diagnosis_zh)
        v.frames = _frame_lines(f.frames, t)
        v.frame_data = list(f.frames or [])
        v.heatmap = _heatmap(f.heatmap, t, lang, ex.id)
    if v.cause is None:  # the pointer at the cause replaces the hints
        v.hint = _clean(hint_for(hints, c.uses[0] if c.uses else "", 0, lang))
    return v


def _cause(c: CheckResult) -> dict:
    """The result's cause pointer with its sentence in both languages:
    "fix attention.scaled_dot_product_attention first (multihead builds on it)"."""
    cause = {str(k): v for k, v in (c.cause or {}).items()}
    dep = cause.get("dep") or cause.get("function")
    by = cause.get("by") or c.id
    for key, lang in (("text", "en"), ("text_zh", "zh")):
        cause[key] = _clean(labels(lang)["caused_by"].format(dep=dep, by=by)) if dep else ""
    return cause


def _error(ex: ExerciseResult, lang: str) -> tuple[str, str]:
    """The exercise's import error: its first line (the message) localised, where and the caret
    as they are; and the line saying how many checks it leaves ungraded."""
    text = translate(ex.error, lang, ex.id)
    if not text:
        return "", ""
    return _clean(text), labels(lang)["checks_not_graded"].format(n=len(ex.checks))


def _placeholder(ex: ExerciseResult, c: CheckResult, i: int, t: dict[str, str]) -> CheckView:
    passed = c.status == "passed"
    return CheckView(id=f"hidden-{i}", title=t["hidden_name"].format(i=i, ex=ex.id),
                     status="passed" if passed else "failed", result_status="passed" if passed else "failed",
                     score=c.score, max_score=c.max_score, kind="hidden", hidden=True, redacted=True,
                     seconds=c.seconds, anchor=anchor(ex.id, f"hidden-{i}"), labels=t,
                     message="" if passed else t["hidden_check_failed"])


def exercise_view(ex: ExerciseResult, lang: str = "en", staff: bool = False, hints: dict | None = None,
                  results: dict[str, ExerciseResult] | None = None) -> ExerciseView:
    """One exercise of the view (``ex`` must be scrubbed already; :func:`build` does that).
    ``results``: the other exercises graded, for "fix X first"."""
    t = labels(lang)
    checks: list[CheckView] = []
    hidden_ids: dict[str, str] = {}
    for c in ex.checks:
        if c.hidden and not staff:
            i = len(hidden_ids) + 1
            hidden_ids[c.id] = f"hidden-{i}"
            checks.append(_placeholder(ex, c, i, t))
        else:
            checks.append(check_view(ex, c, lang, hints))
    if not staff:
        for v in checks:
            if v.cause:
                v.cause = _redact_cause(v.cause, ex, results)
    hidden = [c for c in ex.checks if c.hidden]
    first = next((c for c in ex.checks if c.status != "passed"), None)
    # a hidden check's function may be named: it is in the stub the student has
    start = first.uses[0] if first is not None and first.uses else ""
    deps = [d for d in ex.after if results and d in results and results[d].score < results[d].max_score]
    error, error_note = _error(ex, lang)
    output = ""
    if ex.output.strip() and any(c.status != "passed" for c in ex.checks) and (staff or not hidden):
        output = "\n".join(line[:200] for line in _clean(ex.output).strip().splitlines()[-20:])
    return ExerciseView(id=ex.id, title=_clean(ex.title.get(lang) or ex.title.get("en", "") or ""),
                        score=ex.score, max_score=ex.max_score, checks=checks, file=_clean(ex.file),
                        not_started=ex.not_started, rejected=_clean(translate(ex.rejected, lang, ex.id)),
                        seconds=ex.seconds, anchor=anchor(ex.id), output=output,
                        hidden_total=len(hidden), hidden_failed=sum(c.status != "passed" for c in hidden),
                        start_function=_clean(start), fix_first=deps[0] if deps else "",
                        error=error, error_note=error_note)


def _redact_cause(cause: dict, ex: ExerciseResult, results: dict[str, ExerciseResult] | None) -> dict:
    """A cause whose check is hidden names its placeholder ("hidden-2") in the student view."""
    dep = ex if cause.get("exercise") == ex.id else (results or {}).get(str(cause.get("exercise")))
    if dep is None:
        return cause
    hidden = [c.id for c in dep.checks if c.hidden]
    if cause.get("check") in hidden:
        return {**cause, "check": f"hidden-{hidden.index(cause['check']) + 1}"}
    return cause


def _redact_error(e: str, hidden: dict[str, str]) -> str:
    """A grader error that names a hidden check names its placeholder instead, first line only."""
    line = (e.splitlines() or [""])[0]
    for real, shown in hidden.items():
        if line.startswith(real + ":") or line.startswith(real + " "):
            return shown + ": grader error"
    return line


def next_step(result: RunResult, lang: str = "en") -> str:
    """The one line every report ends on: what to do next."""
    t = labels(lang)
    if result.problem:
        return f"{t['next']}: " + translate(result.problem, lang).splitlines()[-1]
    if result.grader_errors and not result.exercises:
        return t["nothing_graded"]
    if result.rejected:
        return f"{t['rejected']}: {translate(result.rejected, lang)}"
    by_id = {e.id: e for e in result.exercises}
    for ex in result.exercises:
        if ex.score < ex.max_score:
            deps = [d for d in ex.after if d in by_id and by_id[d].score < by_id[d].max_score]
            if deps:
                return f"{t['next']}: {t['fix_first'].format(dep=deps[0])}"
            c = next((c for c in ex.checks if c.status != "passed"), None)
            fn = c.uses[0] if c is not None and c.uses else ""
            return (f"{t['next']}: {ex.file}" + (f" · {fn}" if fn else "")
                    + f"   ({t['grade_hint'].format(ex=ex.id)})")
    return t["all_done"]


def build(result: RunResult, lang: str = "en", staff: bool = False, hints: dict | None = None) -> ReportView:
    """The one view of ``result`` every report renders (see the module docstring).
    ``hints``: exercise id -> function -> levels (course.toml); the first level is shown."""
    if isinstance(result, ReportView):
        return result
    lang = lang if lang in TEXT else "en"
    t = labels(lang)
    result = sanitize.scrub(result)
    by_id = {e.id: e for e in result.exercises}
    exercises = [exercise_view(ex, lang, staff, (hints or {}).get(ex.id), by_id) for ex in result.exercises]
    hidden = {f"{ex.id}.{c.id}": f"{ex.id}.hidden-{i + 1}"
              for ex in result.exercises for i, c in enumerate([c for c in ex.checks if c.hidden])}
    errors = [_clean(e) if staff else _clean(_redact_error(e, hidden)) for e in result.grader_errors]
    problem_all = [_clean(line) for line in translate(result.problem, lang).splitlines()]
    return ReportView(lang=lang, staff=staff, score=result.score, max_score=result.max_score, mode=result.mode,
                      seed=result.seed, sandbox=result.sandbox, seconds=result.seconds,
                      versions=dict(result.versions or {}), exercises=exercises, grader_errors=errors,
                      problem=problem_all[:-1], problem_text="\n".join(problem_all),
                      rejected=_clean(translate(result.rejected, lang)),
                      next_step=_clean(next_step(result, lang)), labels=t)


__all__ = ["TEXT", "SYMBOL", "CheckView", "ExerciseView", "Heatmap", "ReportView", "build", "check_view",
           "exercise_view", "hint_for", "labels", "next_step", "pad", "shown_status", "translate"]
