"""Every report format from one view: the table :data:`FORMATS` (name, file, renderer), from
which ``grade --format`` takes its choices and :func:`write_all` its file names.

Each renderer takes the view (:func:`grader.view.build`: hidden checks redacted unless
``staff``, every message localised, every string scrubbed) and only lays it out and escapes it
for its format: Gradescope ``results.json``, JUnit XML, a Markdown job summary, a
self-contained HTML report, the plain terminal report, and the JSON document.
"""

from __future__ import annotations

import html as _html
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from grader import sanitize
from grader.reports import json_text, render, write_atomic
from grader.view import (
    FIELD_LIMIT,
    SYMBOL,
    CheckView,
    ExerciseView,
    Heatmap,
    ReportView,
    build,
    check_view,
)

ERRORED = ("error", "timeout", "crashed")

if TYPE_CHECKING:
    from grader.runner import CheckResult, ExerciseResult, RunResult


def clean(value: Any, limit: int = FIELD_LIMIT) -> str:
    """Untrusted text made safe to embed anywhere (:func:`grader.sanitize.clean`), at most
    ``limit`` characters."""
    return sanitize.clean(value, limit)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _pct(score: float, max_score: float) -> str:
    return f"{100.0 * score / max_score:.1f}%" if max_score else "–"


def explain(ex: ExerciseResult, c: CheckResult, lang: str = "en", hints: dict | None = None) -> str:
    """The plain-text explanation of one check (what the terminal shows under it)."""
    return check_view(sanitize.scrub(ex), sanitize.scrub(c), lang, (hints or {}).get(ex.id)).text()


# --- Gradescope ------------------------------------------------------------------------------


def _gs_test(name: str, number: str, score: float, max_score: float, status: str, output: str,
             tags: list[str], visibility: str = "visible") -> dict[str, Any]:
    return {"name": name, "number": number, "score": float(score), "max_score": float(max_score),
            "status": status, "output": output, "tags": tags, "visibility": visibility,
            "name_format": "text", "output_format": "text"}


def gradescope_view(v: ReportView) -> dict[str, Any]:
    """Gradescope's ``results.json``: one test per check. A redacted hidden check is visible
    only after the grades are published, is named "hidden check N of EXERCISE" and says only
    passed/failed; its score counts. The top-level output summarises the run."""
    t = v.labels
    tests: list[dict[str, Any]] = []
    summary = [f"{t['score']}: {_fmt(v.score)}/{_fmt(v.max_score)} ({_pct(v.score, v.max_score)})",
               v.meta_line, v.versions_line, ""]
    if v.rejected:
        summary += [f"{t['rejected']}: {v.rejected}", ""]
    for ex in v.exercises:
        summary.append(f"{ex.id}: {_fmt(ex.score)}/{_fmt(ex.max_score)}")
        summary += ["  " + line for line in ex.error_lines]
        if ex.hidden_total:
            summary.append("  " + t["hidden_summary"].format(ex=ex.id, n=ex.hidden_total, failed=ex.hidden_failed))
        for c in ex.checks:
            status = "passed" if c.status == "passed" else "failed"
            visibility = "after_published" if c.hidden else "visible"
            if c.redacted:
                tests.append(_gs_test(c.title, f"{ex.id}.{c.id.replace('-', '')}", c.score, c.max_score, status,
                                      t["passed"] if c.passed else t["failed"], [ex.id, "hidden"], visibility))
            else:
                tests.append(_gs_test(clean(f"{ex.id} · {c.title}", 500), f"{ex.id}.{c.id}", c.score, c.max_score,
                                      status, c.text(), [ex.id, c.kind or "check"], visibility))
    if v.problem_text:
        summary += v.problem
        tests.append(_gs_test(t["not_graded_title"], "submission", 0.0, v.max_score, "failed", v.problem_text,
                              ["submission"]))
    if v.grader_errors:
        summary += ["", t["grader_error"]]
        summary += ["  " + clean(e.splitlines()[0] if e else "", 500) for e in v.grader_errors]
        if not v.exercises:  # nothing graded: say so where the tests are listed too
            tests.append(_gs_test(t["not_graded_title"], "submission", 0.0, v.max_score, "failed",
                                  clean("\n".join([t["grader_error"], *v.grader_errors])),
                                  ["submission", "grader error"]))
    summary += ["", v.next_step]
    return {
        "score": float(v.score),
        "execution_time": int(round(v.seconds)),
        "output": clean(re.sub(r"\n{3,}", "\n\n", "\n".join(summary)), 8 * FIELD_LIMIT),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "visible" if v.staff else "hidden",
        "extra_data": {"max_score": float(v.max_score), "mode": v.mode, "seed": v.seed,
                       "sandbox": v.sandbox, "versions": dict(v.versions)},
        "tests": tests,
    }


def gradescope(result: RunResult | ReportView, student: bool = True, *, lang: str = "en",
               hints: dict | None = None) -> dict[str, Any]:
    """Gradescope's ``results.json`` as a dict (serialise with :func:`gradescope_text`)."""
    return gradescope_view(build(result, lang, not student, hints))


def gradescope_text(result: RunResult | ReportView, student: bool = True, *, lang: str = "en",
                    hints: dict | None = None) -> str:
    return json.dumps(gradescope(result, student, lang=lang, hints=hints), indent=2, ensure_ascii=False,
                      allow_nan=False, default=str)


# --- JUnit -----------------------------------------------------------------------------------


def _counts(checks: list[CheckView]) -> dict[str, str]:
    return {"tests": str(len(checks)),
            "failures": str(sum(c.result_status == "failed" for c in checks)),
            "errors": str(sum(c.result_status in ERRORED for c in checks)),
            "skipped": str(sum(c.result_status == "skipped" or c.status == "withheld" for c in checks))}


def _first_line(s: str, limit: int = 500) -> str:
    s = clean(s, limit * 4)
    return clean(s.splitlines()[0] if s.strip() else s, limit)


def junit_view(v: ReportView) -> str:
    """JUnit XML: one ``<testsuite>`` per exercise, one ``<testcase>`` per check."""
    all_checks = [c for ex in v.exercises for c in ex.checks]
    root = ET.Element("testsuites", {"name": "grader", **_counts(all_checks), "time": f"{v.seconds:.3f}"})
    for ex in v.exercises:
        suite = ET.SubElement(root, "testsuite", {"name": ex.id, **_counts(ex.checks), "time": f"{ex.seconds:.3f}"})
        props = ET.SubElement(suite, "properties")
        pairs = [("seed", v.seed), ("mode", v.mode), ("sandbox", v.sandbox), ("score", _fmt(ex.score)),
                 ("max_score", _fmt(ex.max_score)), ("title", ex.title)]
        pairs += [(f"version.{k}", val) for k, val in v.versions.items()]
        if v.rejected:
            pairs.append(("rejected", v.rejected))
        for name, value in pairs:
            ET.SubElement(props, "property", {"name": name, "value": clean(value, 500)})
        for c in ex.checks:
            case = ET.SubElement(suite, "testcase", {"classname": f"grader.{ex.id}", "name": clean(c.id, 200),
                                                     "time": f"{c.seconds:.3f}"})
            if c.passed:
                if c.withheld:
                    ET.SubElement(case, "skipped", {"message": _first_line(c.withheld)})
                elif c.text():
                    ET.SubElement(case, "system-out").text = c.text()
                continue
            message = c.message if c.redacted else _first_line(c.message)
            tag = "failure" if c.result_status == "failed" else "skipped" if c.result_status == "skipped" else "error"
            if c.redacted:
                tag = "failure"
            el = ET.SubElement(case, tag, {"message": message} if tag == "skipped" else
                               {"message": message, "type": c.result_status})
            if tag != "skipped" and not c.redacted:
                el.text = c.text()
        if ex.output:
            ET.SubElement(suite, "system-out").text = ex.output
        errs = ex.error_lines + [e for e in v.grader_errors if e.startswith(f"{ex.id}.")]
        if errs:
            ET.SubElement(suite, "system-err").text = clean("\n".join(errs), 4 * FIELD_LIMIT)
    if v.problem_text or (v.grader_errors and not v.exercises):
        # nothing graded: one failing case that says why, so CI shows it instead of "0 tests"
        problem = bool(v.problem_text)
        suite = ET.SubElement(root, "testsuite", {"name": "submission", "tests": "1", "time": "0.000",
                                                  "failures": "1" if problem else "0",
                                                  "errors": "0" if problem else "1", "skipped": "0"})
        case = ET.SubElement(suite, "testcase", {"classname": "grader.submission", "name": "graded"})
        body = v.problem_text if problem else "\n".join(v.grader_errors)
        el = ET.SubElement(case, "failure" if problem else "error",
                           {"message": _first_line(body), "type": "not graded" if problem else "grader error"})
        el.text = clean(body, 4 * FIELD_LIMIT)
        root.set("tests", str(int(root.get("tests", "0")) + 1))
        key = "failures" if problem else "errors"
        root.set(key, str(int(root.get(key, "0")) + 1))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit(result: RunResult | ReportView, *, student: bool = True, lang: str = "en",
          hints: dict | None = None) -> str:
    return junit_view(build(result, lang, not student, hints))


# --- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def _md(s: Any, limit: int = 1000) -> str:
    """Untrusted text as one line of Markdown: HTML-escaped, Markdown punctuation escaped."""
    s = " ".join(clean(s, limit).split())
    return _html.escape(_MD_SPECIAL.sub(r"\\\1", s), quote=False)


def _fence(body: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def _emoji(ex: ExerciseView) -> str:
    if ex.not_started:
        return "⬜"
    if ex.full:
        return "✅"
    return "🟡" if ex.score > 0 else "❌"


def _md_check(c: CheckView, t: dict[str, str]) -> list[str]:
    badge = f" `[{_md(c.badge, 50)}]`" if c.badge else ""
    out = [f"**{SYMBOL.get(c.status, '?')} {_md(c.title, 300)}**{badge} · {_fmt(c.score)}/{_fmt(c.max_score)} · "
           f"`{clean(c.id, 100).replace('`', '')}`", ""]
    if c.passed:
        return out + ([*(_md(n) for n in c.notes), ""] if c.notes else [])
    out += [_md(c.message), ""]
    if c.notes:
        out += [*(_md(n) for n in c.notes), ""]
    if c.diagnosis:
        out += [f"→ **{_md(t['diagnosis'])}:** {_md(c.diagnosis)}", ""]
    detail = [line for kind, line in c.explanation() if kind in ("input", "expected", "got", "error", "frame")]
    if detail:
        out += [_fence("\n".join(detail)), ""]
    if c.hint:
        out += [f"*{_md(t['hint'])}: {_md(c.hint)}*", ""]
    return out


def markdown_view(v: ReportView, verbose: bool = False) -> str:
    """A summary for ``$GITHUB_STEP_SUMMARY``: total, a table of exercises, then per exercise
    its failures, its passed checks with a note, and its other passes on one line."""
    t = v.labels
    out = [f"## {t['report']}: {_fmt(v.score)}/{_fmt(v.max_score)} ({_pct(v.score, v.max_score)})", ""]
    if v.problem:
        out += [f"> ❌ {_md(line, 2000)}" for line in v.problem] + [""]
    if v.rejected:
        out += [f"> ❌ **{_md(t['rejected'])}:** {_md(v.rejected, 500)}", ""]
    if v.grader_errors:
        out.append(f"> ⚠️ **{_md(t['grader_error'])}**")
        out += [f"> {_md(_first_line(e), 300)}" for e in v.grader_errors[:10]]
        out.append("")
    if v.exercises:
        out += [f"| {t['exercise']} | {t['score']} | {t['max']} | {t['status']} |", "|---|---:|---:|:---:|"]
    for ex in v.exercises:
        out.append(f"| **{_md(ex.id, 100)}** {_md(ex.title, 200)} | {_fmt(ex.score)} | "
                   f"{_fmt(ex.max_score)} | {_emoji(ex)} |")
    hidden_lines = ["- " + _md(t["hidden_summary"].format(ex=ex.id, n=ex.hidden_total, failed=ex.hidden_failed))
                    for ex in v.exercises if ex.hidden_total]
    if hidden_lines:
        out += ["", *hidden_lines]
    out.append("")
    for ex in v.exercises:
        redacted_failed = sum(1 for c in ex.checks if c.redacted and not c.passed)
        if not ex.failing and not ex.noted and not redacted_failed and not ex.error and not verbose:
            continue
        n_failed = len(ex.failing) + redacted_failed
        out += ["<details>", f"<summary><b>{_html.escape(ex.id)}</b> — {_fmt(ex.score)}/{_fmt(ex.max_score)} · "
                f"{_html.escape(t['failed_checks'].format(n=n_failed))}</summary>", ""]
        if ex.not_started:
            out += [_md(f"{t['not_started']} — {t['start_here']}: {ex.file}"), ""]
        if ex.error:  # the import error once, instead of the checks it left ungraded
            lines = ex.error_lines
            where = [_fence("\n".join(lines[1:-1])), ""] if lines[1:-1] else []
            out += [_md(lines[0]), "", *where, _md(lines[-1]), "", "</details>", ""]
            continue
        for c in ex.failing + ex.noted + (ex.plain_passes if verbose else []):
            out += _md_check(c, t)
        if ex.plain_passes and not verbose:
            points = _fmt(sum(c.score for c in ex.plain_passes))
            out += [f"{SYMBOL['passed']} " + _md(t["passing_folded"].format(n=len(ex.plain_passes), points=points)),
                    ""]
        if redacted_failed:
            out += [_md(t["hidden_failed"].format(n=redacted_failed)), ""]
        out += ["</details>", ""]
    out += ["---", f"<sub>{_html.escape(v.meta_line)} · {_html.escape(v.versions_line)}</sub>",
            "", _md(v.next_step), ""]
    return "\n".join(out)


def markdown(result: RunResult | ReportView, lang: str = "en", *, student: bool = True,
             hints: dict | None = None, verbose: bool = False) -> str:
    return markdown_view(build(result, lang, not student, hints), verbose)


# --- HTML ------------------------------------------------------------------------------------

CSS = """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --border: #d1d9e0;
  --card: #f6f8fa; --code: #eff2f5; --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --crash: #8250df;
  --diag: #7d4e00; --diag-bg: #fff8c5; --hm: 9, 105, 218; --link: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --border: #3d444d; --card: #151b23;
    --code: #1f2429; --pass: #3fb950; --fail: #f85149; --warn: #d29922; --crash: #bc8cff;
    --diag: #e3b341; --diag-bg: #2e2410; --hm: 88, 166, 255; --link: #4493f8; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, "PingFang SC", "Microsoft YaHei",
  sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 16px 48px; }
a { color: var(--link); }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 0 0 8px; display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; }
.muted, .meta { color: var(--muted); font-size: 0.9em; }
.total { font-size: 1.3em; font-weight: 600; margin: 4px 0; }
table.summary { border-collapse: collapse; margin: 16px 0; width: 100%; }
table.summary th, table.summary td { border: 1px solid var(--border); padding: 4px 10px; text-align: left; }
table.summary td.num { text-align: right; font-variant-numeric: tabular-nums; }
section.exercise { border: 1px solid var(--border); border-radius: 8px; background: var(--card);
  padding: 14px 16px; margin: 16px 0; }
.full { color: var(--pass); } .partial { color: var(--warn); } .zero { color: var(--fail); }
ul.checks { list-style: none; padding: 0; margin: 0; }
li.check { border-top: 1px solid var(--border); padding: 6px 0; }
li.check:first-child { border-top: none; }
.row { display: flex; gap: 10px; align-items: baseline; }
.sym { width: 1.4em; text-align: center; font-weight: 700; flex: none; }
.ctitle { flex: 1; }
.pts { color: var(--muted); font-variant-numeric: tabular-nums; flex: none; }
.passed .sym { color: var(--pass); } .failed .sym, .error .sym { color: var(--fail); }
.timeout .sym { color: var(--warn); } .crashed .sym { color: var(--crash); } .skipped .sym { color: var(--muted); }
.badge { font-size: 0.8em; border: 1px solid currentColor; border-radius: 10px; padding: 0 6px; }
.detail { margin: 6px 0 4px 2.4em; }
.msg { color: var(--fail); margin: 2px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.notimpl { color: var(--warn); }
pre { background: var(--code); border-radius: 6px; padding: 8px 10px; margin: 4px 0; overflow-x: auto;
  white-space: pre-wrap; overflow-wrap: anywhere; font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo,
  Consolas, monospace; }
.label { color: var(--muted); }
.diag { background: var(--diag-bg); color: var(--diag); font-weight: 600; border-radius: 6px;
  padding: 4px 10px; margin: 6px 0; }
.frames { color: var(--link); }
.hint { color: var(--muted); font-style: italic; margin: 4px 0; }
.note { color: var(--warn); margin: 2px 0; }
.withheld .sym { color: var(--warn); }
.heat { display: flex; gap: 20px; flex-wrap: wrap; margin: 6px 0; }
.heat figure { margin: 0; }
.heat figcaption { color: var(--muted); font-size: 0.85em; }
table.hm { border-collapse: collapse; }
table.hm td { width: 34px; height: 22px; border: 1px solid var(--border); text-align: center;
  font: 10px/1 ui-monospace, monospace; color: var(--fg); padding: 0; }
table.hm td.hi { color: #ffffff; }
table.hm td.nan { background: repeating-linear-gradient(45deg, var(--code), var(--code) 3px, var(--border) 3px,
  var(--border) 6px); }
.hidden-note { color: var(--warn); margin: 6px 0 0; }
.errors { border: 1px solid var(--crash); border-radius: 8px; padding: 8px 14px; color: var(--crash); }
nav.failures { border: 1px solid var(--fail); border-radius: 8px; padding: 8px 14px; margin: 16px 0; }
nav.failures h2 { color: var(--fail); }
nav.failures ol { margin: 0; padding-left: 1.4em; }
details.passes > summary { cursor: pointer; color: var(--pass); padding: 6px 0; }
.heat p.caption { flex-basis: 100%; margin: 0; }
footer { margin-top: 24px; color: var(--muted); font-size: 0.9em; }
"""


def _e(s: Any, limit: int = FIELD_LIMIT) -> str:
    return _html.escape(clean(s, limit), quote=True)


def _grade_class(score: float, max_score: float) -> str:
    return "full" if score >= max_score else ("partial" if score > 0 else "zero")


def _as_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def heatmap_html(heat: dict | Heatmap, lang: str = "en") -> str:
    """Expected and got matrices side by side under a caption (which tensor, which axes), each
    cell shaded by its value on one shared scale; nan / inf cells are hatched."""
    from grader.view import labels

    t = labels(lang)
    if isinstance(heat, Heatmap):
        raw, caption = {"expected": heat.expected, "got": heat.got}, heat.caption
    else:
        raw, caption = heat, ""
    mats = []
    for key in ("expected", "got"):
        rows = raw.get(key) or []
        mats.append([[_as_float(x) for x in (row if isinstance(row, (list, tuple)) else [row])][:32]
                     for row in list(rows)[:32]])
    finite = [x for m in mats for row in m for x in row if math.isfinite(x)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (hi - lo) or 1.0
    parts = ['<div class="heat">']
    if caption:
        parts.append(f'<p class="muted caption">{_e(caption)} · {_e(t["heat_legend"])}</p>')
    for key, m in zip(("expected", "got"), mats):
        parts.append(f'<figure><figcaption>{_e(t[key])}</figcaption><table class="hm">')
        for row in m:
            parts.append("<tr>")
            for x in row:
                if not math.isfinite(x):
                    parts.append(f'<td class="nan" title="{x}">{x}</td>')
                    continue
                level = (x - lo) / span
                alpha = 0.06 + 0.94 * level
                cls = ' class="hi"' if level > 0.55 else ""
                parts.append(f'<td{cls} style="background: rgba(var(--hm), {alpha:.3f})" title="{x:.4g}">'
                             f"{x:.2f}</td>")
            parts.append("</tr>")
        parts.append("</table></figure>")
    parts.append("</div>")
    return "".join(parts)


def _check_html(c: CheckView, lang: str) -> str:
    t = c.labels
    badge = f' <span class="badge">{_e(c.badge)}</span>' if c.badge else ""
    out = [f'<li class="check {_e(c.status)}" id="{_e(c.anchor, 300)}"><div class="row">'
           f'<span class="sym">{_e(SYMBOL.get(c.status, "?"))}</span>'
           f'<span class="ctitle">{_e(c.title, 500)}{badge}</span>'
           f'<span class="pts">{_fmt(c.score)}/{_fmt(c.max_score)}</span></div>']
    if c.passed or c.redacted:
        if c.notes:
            out.append('<div class="detail">' + "".join(f'<p class="note">{_e(n)}</p>' for n in c.notes) + "</div>")
        out.append("</li>")
        return "".join(out)
    out.append('<div class="detail">')
    out.append(f'<p class="msg{" notimpl" if c.not_implemented else ""}">{_e(c.message)}</p>')
    out += [f'<p class="note">{_e(n)}</p>' for n in c.notes]
    if not c.not_implemented:
        if c.input:
            out.append(f'<div><span class="label">{_e(t["input"])}</span><pre>{_e(c.input)}</pre></div>')
        if c.expected or c.got:
            out.append(f'<pre><span class="label">{_e(t["expected"])}</span> {_e(c.expected)}\n'
                       f'<span class="label">{_e(t["got"])}</span> {_e(c.got)}</pre>')
        if c.error:
            out.append(f'<div><span class="label">{_e(t["error"])}</span><pre>{_e(c.error)}</pre></div>')
        if c.heatmap is not None:
            out.append(heatmap_html(c.heatmap, lang))
        if c.diagnosis:
            out.append(f'<p class="diag">→ {_e(t["diagnosis"])}: {_e(c.diagnosis)}</p>')
        if c.frames:
            out.append(f'<pre class="frames">{_e(chr(10).join(c.frames))}</pre>')
        if c.hint:
            out.append(f'<p class="hint">{_e(t["hint"])}: {_e(c.hint)}</p>')
    out.append("</div></li>")
    return "".join(out)


def _exercise_html(ex: ExerciseView, v: ReportView, verbose: bool) -> str:
    t = v.labels
    out = [f'<section class="exercise" id="{_e(ex.anchor)}"><h2><span>{_e(ex.id)}</span>'
           f'<span class="{_grade_class(ex.score, ex.max_score)}">{_fmt(ex.score)}/{_fmt(ex.max_score)}</span>'
           f'<span class="muted">{_e(ex.title)}</span></h2>']
    if ex.not_started:
        out.append(f'<p class="partial">{_e(t["not_started"])} — {_e(t["start_here"])}: '
                   f'<code>{_e(ex.file)}</code></p>')
    if ex.error:  # the import error once, instead of the checks it left ungraded
        lines = ex.error_lines
        where = f"<pre>{_e(chr(10).join(lines[1:-1]))}</pre>" if lines[1:-1] else ""
        out.append(f'<div class="errors"><p>{_e(lines[0])}</p>{where}<p>{_e(lines[-1])}</p></div></section>')
        return "".join(out)
    shown = ex.failing + ex.noted
    out.append('<ul class="checks">' + "".join(_check_html(c, v.lang) for c in shown) + "</ul>")
    if ex.plain_passes:
        points = _fmt(sum(c.score for c in ex.plain_passes))
        summary = f"{SYMBOL['passed']} " + t["passing_folded"].format(n=len(ex.plain_passes), points=points)
        out.append(f'<details class="passes"{" open" if verbose else ""}><summary>{_e(summary)}</summary>'
                   '<ul class="checks">' + "".join(_check_html(c, v.lang) for c in ex.plain_passes)
                   + "</ul></details>")
    if ex.hidden_total and not v.staff:
        note = t["hidden_summary"].format(ex=ex.id, n=ex.hidden_total, failed=ex.hidden_failed)
        out.append(f'<p class="hidden-note">{_e(note)}</p>')
    if ex.output:
        out.append(f'<div><span class="label">{_e(t["output"])}</span><pre>{_e(ex.output)}</pre></div>')
    out.append("</section>")
    return "".join(out)


def html_view(v: ReportView, verbose: bool = False) -> str:
    """A self-contained HTML report (inline CSS, no scripts, no external resources) that opens
    on a summary: the total, a table of exercises, and a link to each failure."""
    t = v.labels
    total = f"{_fmt(v.score)}/{_fmt(v.max_score)} ({_pct(v.score, v.max_score)})"
    out = ["<!DOCTYPE html>", f'<html lang="{"zh-CN" if v.lang == "zh" else "en"}"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<meta name="color-scheme" content="light dark">',
           f"<title>{_e(t['report'])}: {_e(total)}</title>", f"<style>{CSS}</style></head>",
           "<body><main><header>", f"<h1>{_e(t['report'])}</h1>",
           f'<p class="total {_grade_class(v.score, v.max_score)}">{_e(t["score"])}: {_e(total)}</p>',
           f'<p class="meta">{_e(v.meta_line)}<br>{_e(v.versions_line)}</p></header>']
    if v.problem:
        out.append('<div class="errors">' + "".join(f"<p>{_e(line)}</p>" for line in v.problem) + "</div>")
    if v.rejected:
        out.append(f'<div class="errors"><p><b>{_e(t["rejected"])}</b>: {_e(v.rejected)}</p></div>')
    if v.grader_errors:
        out.append(f'<div class="errors"><p><b>{_e(t["grader_error"])}</b></p><ul>')
        out += [f"<li>{_e(_first_line(e))}</li>" for e in v.grader_errors[:20]]
        out.append("</ul></div>")
    if v.exercises:
        out.append(f'<table class="summary"><thead><tr><th>{_e(t["exercise"])}</th><th>{_e(t["score"])}</th>'
                   f'<th>{_e(t["max"])}</th><th>{_e(t["checks"])}</th></tr></thead><tbody>')
        for ex in v.exercises:
            passed = sum(c.passed for c in ex.checks)
            out.append(f'<tr><td><a href="#{_e(ex.anchor)}">{_e(ex.id)}</a> '
                       f'<span class="muted">{_e(ex.title)}</span></td>'
                       f'<td class="num {_grade_class(ex.score, ex.max_score)}">{_fmt(ex.score)}</td>'
                       f'<td class="num">{_fmt(ex.max_score)}</td>'
                       f'<td class="num">{passed}/{len(ex.checks)}</td></tr>')
        out.append("</tbody></table>")
    links: list[tuple[str, str, str]] = []  # (exercise, anchor, title) of each failure, in course order
    for ex in v.exercises:
        if ex.error:  # a module that does not import is one failure, linked to its error
            links.append((ex.id, ex.anchor, ex.error_note))
        else:
            links += [(ex.id, c.anchor, c.title) for c in ex.failing]
    if links:
        out.append(f'<nav class="failures"><h2>{_e(t["failures"])} ({len(links)})</h2><ol>')
        out += [f'<li><a href="#{_e(ref, 300)}">{_e(ex_id)} · {_e(title, 300)}</a></li>'
                for ex_id, ref, title in links]
        out.append("</ol></nav>")
    out += [_exercise_html(ex, v, verbose) for ex in v.exercises]
    out.append(f"<footer><p><b>{_e(v.next_step)}</b></p></footer></main></body></html>")
    return "\n".join(out) + "\n"


def html(result: RunResult | ReportView, lang: str = "en", *, student: bool = True, hints: dict | None = None,
         verbose: bool = False) -> str:
    return html_view(build(result, lang, not student, hints), verbose)


# --- the terminal report as text, JSON -------------------------------------------------------


def rich_text_view(v: ReportView, verbose: bool = False, width: int = 100) -> str:
    buf = StringIO()
    console = Console(file=buf, width=width, no_color=True, color_system=None, highlight=False,
                      soft_wrap=False, emoji=False, force_terminal=False, force_jupyter=False)
    render(v, console, v.lang, verbose=verbose)
    return buf.getvalue()


def rich_text(result: RunResult | ReportView, lang: str = "en", *, student: bool = True, hints: dict | None = None,
              verbose: bool = False) -> str:
    """The terminal report as plain text, 100 columns wide."""
    return rich_text_view(build(result, lang, not student, hints), verbose)


def _json_view(v: ReportView, verbose: bool = False) -> str:
    return json_text(v, not v.staff, v.lang)


# --- the table of formats --------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    name: str  # what --format takes
    filename: str  # what write_all writes it as
    render: Callable[[ReportView, bool], str]  # (view, verbose) -> text
    description: str = ""


REGISTRY: dict[str, Format] = {f.name: f for f in (
    Format("rich", "report.txt", rich_text_view, "the terminal report (colour on a terminal, plain in a file)"),
    Format("json", "report.json", _json_view, "the JSON document (DESIGN.md schema)"),
    Format("gradescope", "results.json", lambda v, _verbose=False: json.dumps(
        gradescope_view(v), indent=2, ensure_ascii=False, allow_nan=False, default=str), "Gradescope results.json"),
    Format("junit", "junit.xml", lambda v, _verbose=False: junit_view(v), "JUnit XML for CI"),
    Format("markdown", "summary.md", markdown_view, "a Markdown job summary ($GITHUB_STEP_SUMMARY)"),
    Format("html", "report.html", html_view, "a self-contained HTML page"),
)}
FORMATS = tuple(REGISTRY)
FILENAMES = {name: f.filename for name, f in REGISTRY.items()}


def render_format(result: RunResult | ReportView, fmt: str, lang: str = "en", *, student: bool = True,
                  hints: dict | None = None, verbose: bool = False) -> str:
    """One format as text (``fmt`` in :data:`FORMATS`)."""
    if fmt not in REGISTRY:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    return REGISTRY[fmt].render(build(result, lang, not student, hints), verbose)


def write_all(result: RunResult | ReportView, out_dir: Path | str, formats: list[str] | tuple[str, ...] = FORMATS,
              lang: str = "en", *, student: bool = True, hints: dict | None = None,
              verbose: bool = False) -> dict[str, Path]:
    """Write each format to ``out_dir`` under its :data:`FILENAMES` name, atomically."""
    unknown = [f for f in formats if f not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; known: {', '.join(FORMATS)}")
    view = build(result, lang, not student, hints)
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    for fmt in dict.fromkeys(formats):
        path = out_dir / FILENAMES[fmt]
        write_atomic(path, REGISTRY[fmt].render(view, verbose))
        written[fmt] = path
    return written


__all__ = ["CSS", "FILENAMES", "FORMATS", "REGISTRY", "Format", "clean", "explain", "gradescope",
           "gradescope_text", "heatmap_html", "html", "junit", "markdown", "render_format", "rich_text",
           "write_all"]
