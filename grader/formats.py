"""Every CI format from one result: Gradescope ``results.json``, JUnit XML, a Markdown job
summary, a self-contained HTML report, and ``write_all`` to write several at once.

Everything a student wrote (messages, printed output, frames) is untrusted text: it is cleaned
(ANSI codes, control characters and lone surrogates removed, length capped) and escaped for
the format it lands in. With ``student=True`` hidden checks are counted but never named or
explained.
"""

from __future__ import annotations

import html as _html
import json
import math
import re
import xml.etree.ElementTree as ET
from io import StringIO
from pathlib import Path
from typing import Any

from rich.console import Console

from grader import sanitize
from grader.reports import (
    SYMBOL,
    TEXT,
    check_notes,
    hint_for,
    json_text,
    next_step,
    render,
    shown_status,
    translate,
    write_atomic,
)
from grader.runner import CheckResult, ExerciseResult, RunResult

FILENAMES = {
    "json": "report.json",
    "gradescope": "results.json",
    "junit": "junit.xml",
    "markdown": "summary.md",
    "html": "report.html",
    "rich": "report.txt",
}
FORMATS = tuple(FILENAMES)

EXTRA = {
    "en": {
        "report": "Grading report", "exercise": "exercise", "max": "max", "status": "status",
        "checks": "checks", "failed_checks": "{n} failed", "diagnosis": "likely mistake",
        "hidden_name": "hidden check {i} of {ex}", "hidden_summary": "{ex}: {n} hidden check(s), {failed} failed",
        "passed": "passed", "failed": "failed", "error": "error", "message": "message",
        "mode": "mode", "seed": "seed", "sandbox": "sandbox", "versions": "versions", "time": "time",
        "hidden_check_failed": "hidden check failed", "not_graded": "Submission: not graded",
    },
    "zh": {
        "report": "评分报告", "exercise": "练习", "max": "满分", "status": "状态",
        "checks": "检查", "failed_checks": "{n} 个未通过", "diagnosis": "可能的错误",
        "hidden_name": "{ex} 的隐藏检查 {i}", "hidden_summary": "{ex}：{n} 个隐藏检查，{failed} 个未通过",
        "passed": "通过", "failed": "未通过", "error": "误差", "message": "信息",
        "mode": "模式", "seed": "种子", "sandbox": "沙箱", "versions": "版本", "time": "用时",
        "hidden_check_failed": "隐藏检查未通过", "not_graded": "提交：未评分",
    },
}

FIELD_LIMIT = 4000  # characters of one untrusted field kept in a report
ERRORED = ("error", "timeout", "crashed")



# --- shared helpers --------------------------------------------------------------------------


def _text(lang: str) -> dict[str, str]:
    lang = lang if lang in TEXT else "en"
    return {**TEXT[lang], **EXTRA[lang]}


def clean(value: Any, limit: int = FIELD_LIMIT) -> str:
    """Untrusted text made safe to embed anywhere (:func:`grader.sanitize.clean`), at most
    ``limit`` characters."""
    return sanitize.clean(value, limit)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _pct(score: float, max_score: float) -> str:
    return f"{100.0 * score / max_score:.1f}%" if max_score else "–"


def _title(c: CheckResult, lang: str) -> str:
    return c.title_zh if lang == "zh" and c.title_zh else (c.title or c.id)


def _ex_title(ex: ExerciseResult, lang: str) -> str:
    return ex.title.get(lang) or ex.title.get("en", "") or ""


def _versions(result: RunResult) -> str:
    v = result.versions or {}
    keys = [k for k in ("grader", "torch", "numpy", "python") if k in v]
    keys += [k for k in v if k not in keys and k != "sandbox"]
    return " · ".join(f"{k} {v[k]}" for k in keys)


def _meta_line(result: RunResult, lang: str) -> str:
    t = _text(lang)
    return (f"{t['mode']} {result.mode} · {t['seed']} {result.seed} · {t['sandbox']} {result.sandbox} · "
            f"{t['time']} {result.seconds:.1f} s")


def _hidden_counts(ex: ExerciseResult) -> tuple[int, int]:
    hidden = [c for c in ex.checks if c.hidden]
    return len(hidden), sum(1 for c in hidden if c.status != "passed")


def _hint(hints: dict | None, ex: ExerciseResult, c: CheckResult, lang: str) -> str:
    return hint_for((hints or {}).get(ex.id), c.uses[0] if c.uses else "", 0, lang)


def _frame_lines(frames: list, t: dict[str, str]) -> list[str]:
    out = []
    for fr in list(frames or [])[-3:]:
        if isinstance(fr, (list, tuple)) and len(fr) >= 4:
            fname, lineno, _func, code = fr[:4]
            out.append(f"{t['your_code']}: exercises/{fname}:{lineno}  {code}")
        else:
            out.append(f"{t['your_code']}: {fr}")
    return out


def _diagnosis(c: CheckResult, lang: str) -> str:
    f = c.failure
    if f is None:
        return ""
    return f.diagnosis_zh if lang == "zh" and f.diagnosis_zh else f.diagnosis


def _message(c: CheckResult, lang: str) -> str:
    t = _text(lang)
    f = c.failure
    if f is not None and f.not_implemented:
        return t["not_implemented"]
    return (f.message if f is not None else "") or c.message or c.status


def _explain_parts(ex: ExerciseResult, c: CheckResult, lang: str, hints: dict | None) -> list[tuple[str, str]]:
    """(kind, line) pairs explaining a check, in the terminal report's order: its notes (why
    its points are withheld), and for a check that did not pass what went wrong."""
    notes = [("note", n) for n in check_notes(c, lang, ex.id)]
    if c.status == "passed":
        return [(kind, clean(line)) for kind, line in notes]
    t = _text(lang)
    parts = [] if c.status == "failed" else [("status", f"[{c.status}]")]
    parts.append(("message", _message(c, lang)))
    parts += notes
    f = c.failure
    if f is not None and f.not_implemented:
        return parts
    if f is not None:
        if f.input:
            parts.append(("input", f"{t['input']}: {f.input}"))
        if f.expected or f.got:
            width = max(len(t["expected"]), len(t["got"]))
            parts.append(("expected", f"{t['expected']:<{width}} {f.expected}"))
            parts.append(("got", f"{t['got']:<{width}} {f.got}"))
        if f.error:
            parts.append(("error", str(f.error)))
        diag = _diagnosis(c, lang)
        if diag:
            parts.append(("diagnosis", f"→ {diag}"))
        parts += [("frame", line) for line in _frame_lines(f.frames, t)]
    hint = _hint(hints, ex, c, lang)
    if hint:
        parts.append(("hint", f"{t['hint']}: {hint}"))
    return [(kind, clean(line)) for kind, line in parts]


def explain(ex: ExerciseResult, c: CheckResult, lang: str = "en", hints: dict | None = None) -> str:
    """The plain-text explanation of one check that did not pass (what the terminal shows)."""
    return "\n".join(line for _, line in _explain_parts(ex, c, lang, hints))


# --- Gradescope ------------------------------------------------------------------------------


def gradescope(result: RunResult, student: bool = True, *, lang: str = "en",
               hints: dict | None = None) -> dict[str, Any]:
    """Gradescope's ``results.json`` as a dict (serialise with :func:`gradescope_text`).

    One test per check. A hidden check (with ``student``) is visible only after the grades are
    published, is named "hidden check N of EXERCISE" and says only passed/failed; its score
    counts. The top-level output summarises the run and, per exercise, the hidden checks.
    """
    result = sanitize.scrub(result)
    t = _text(lang)
    tests: list[dict[str, Any]] = []
    summary = [f"{t['score']}: {_fmt(result.score)}/{_fmt(result.max_score)} "
               f"({_pct(result.score, result.max_score)})",
               _meta_line(result, lang), _versions(result), ""]
    if result.rejected:
        summary += [f"{t['rejected']}: {result.rejected}", ""]
    for ex in result.exercises:
        summary.append(f"{ex.id}: {_fmt(ex.score)}/{_fmt(ex.max_score)}")
        n_hidden, n_failed = _hidden_counts(ex)
        if n_hidden:
            summary.append("  " + t["hidden_summary"].format(ex=ex.id, n=n_hidden, failed=n_failed))
        i = 0
        for c in ex.checks:
            passed = shown_status(c) == "passed"
            test: dict[str, Any] = {"score": float(c.score), "max_score": float(c.max_score),
                                    "status": "passed" if passed else "failed"}
            if c.hidden and student:
                i += 1
                test |= {"name": t["hidden_name"].format(i=i, ex=ex.id), "number": f"{ex.id}.hidden{i}",
                         "output": t["passed"] if passed else t["failed"], "tags": [ex.id, "hidden"]}
            else:
                test |= {"name": clean(f"{ex.id} · {_title(c, lang)}", 500), "number": f"{ex.id}.{c.id}",
                         "output": explain(ex, c, lang, hints),
                         "tags": [ex.id, c.kind or "check"]}
            test |= {"visibility": "after_published" if c.hidden else "visible",
                     "name_format": "text", "output_format": "text"}
            tests.append(test)
    if result.problem:
        problem = "\n".join(translate(line, lang) for line in result.problem.splitlines())
        summary += problem.splitlines()[:-1]  # the last line is the next step, below
        tests.append({"name": t["not_graded"], "number": "submission", "score": 0.0,
                      "max_score": float(result.max_score), "status": "failed", "output": clean(problem),
                      "tags": ["submission"], "visibility": "visible", "name_format": "text",
                      "output_format": "text"})
    if result.grader_errors:
        summary += ["", t["grader_error"]]
        summary += ["  " + clean(e.splitlines()[0] if e else "", 500) for e in result.grader_errors]
        if not result.exercises:  # nothing graded: say so where the tests are listed too
            tests.append({"name": t["not_graded"], "number": "submission", "score": 0.0,
                          "max_score": float(result.max_score), "status": "failed",
                          "output": clean("\n".join([t["grader_error"], *result.grader_errors])),
                          "tags": ["submission", "grader error"], "visibility": "visible",
                          "name_format": "text", "output_format": "text"})
    summary += ["", next_step(result, lang)]
    return {
        "score": float(result.score),
        "execution_time": int(round(result.seconds)),
        "output": clean(re.sub(r"\n{3,}", "\n\n", "\n".join(summary)), 8 * FIELD_LIMIT),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden" if student else "visible",
        "extra_data": {"max_score": float(result.max_score), "mode": result.mode, "seed": result.seed,
                       "sandbox": result.sandbox, "versions": dict(result.versions or {})},
        "tests": tests,
    }


def gradescope_text(result: RunResult, student: bool = True, *, lang: str = "en",
                    hints: dict | None = None) -> str:
    return json.dumps(gradescope(result, student, lang=lang, hints=hints), indent=2, ensure_ascii=False,
                      allow_nan=False, default=str)


# --- JUnit -----------------------------------------------------------------------------------


def _counts(checks: list[CheckResult]) -> dict[str, str]:
    return {"tests": str(len(checks)),
            "failures": str(sum(c.status == "failed" for c in checks)),
            "errors": str(sum(c.status in ERRORED for c in checks)),
            "skipped": str(sum(c.status == "skipped" or shown_status(c) == "withheld" for c in checks))}


def _first_line(s: str, limit: int = 500) -> str:
    s = clean(s, limit * 4)
    return clean(s.splitlines()[0] if s.strip() else s, limit)


def junit(result: RunResult, *, student: bool = True, lang: str = "en", hints: dict | None = None) -> str:
    """JUnit XML: one ``<testsuite>`` per exercise, one ``<testcase>`` per check."""
    result = sanitize.scrub(result)
    t = _text(lang)
    all_checks = [c for ex in result.exercises for c in ex.checks]
    root = ET.Element("testsuites", {"name": "grader", **_counts(all_checks), "time": f"{result.seconds:.3f}"})
    for ex in result.exercises:
        suite = ET.SubElement(root, "testsuite", {"name": ex.id, **_counts(ex.checks),
                                                  "time": f"{ex.seconds:.3f}"})
        props = ET.SubElement(suite, "properties")
        pairs = [("seed", result.seed), ("mode", result.mode), ("sandbox", result.sandbox),
                 ("score", _fmt(ex.score)), ("max_score", _fmt(ex.max_score)),
                 ("title", _ex_title(ex, lang))]
        pairs += [(f"version.{k}", v) for k, v in (result.versions or {}).items()]
        if result.rejected:
            pairs.append(("rejected", result.rejected))
        for name, value in pairs:
            ET.SubElement(props, "property", {"name": name, "value": clean(value, 500)})
        i = 0
        for c in ex.checks:
            hide = c.hidden and student
            if hide:
                i += 1
            case = ET.SubElement(suite, "testcase", {
                "classname": f"grader.{ex.id}", "name": f"hidden-{i}" if hide else clean(c.id, 200),
                "time": f"{c.seconds:.3f}"})
            if c.status == "passed":
                if c.withheld and not hide:
                    ET.SubElement(case, "skipped", {"message": _first_line(explain(ex, c, lang))})
                elif not hide and explain(ex, c, lang):
                    ET.SubElement(case, "system-out").text = explain(ex, c, lang)
                continue
            if hide:
                message, body = t["hidden_check_failed"], ""
            else:
                message, body = _first_line(_message(c, lang)), explain(ex, c, lang, hints)
            tag = "failure" if c.status == "failed" else "skipped" if c.status == "skipped" else "error"
            el = ET.SubElement(case, tag, {"message": message} if tag == "skipped" else
                               {"message": message, "type": c.status})
            if body and tag != "skipped":
                el.text = body
        n_hidden, _ = _hidden_counts(ex)
        if ex.output.strip() and not (student and n_hidden):
            ET.SubElement(suite, "system-out").text = clean(ex.output)
        errs = [e for e in result.grader_errors if e.startswith(f"{ex.id}.")]
        if errs:
            ET.SubElement(suite, "system-err").text = clean(
                "\n".join(_first_line(e) if student else e for e in errs), 4 * FIELD_LIMIT)
    if result.problem or (result.grader_errors and not result.exercises):
        # nothing graded: one failing case that says why, so CI shows it instead of "0 tests"
        suite = ET.SubElement(root, "testsuite", {"name": "submission", "tests": "1", "time": "0.000",
                                                  "failures": "1" if result.problem else "0",
                                                  "errors": "0" if result.problem else "1", "skipped": "0"})
        case = ET.SubElement(suite, "testcase", {"classname": "grader.submission", "name": "graded"})
        body = ("\n".join(translate(line, lang) for line in result.problem.splitlines()) if result.problem
                else "\n".join(result.grader_errors))
        el = ET.SubElement(case, "failure" if result.problem else "error",
                           {"message": _first_line(body), "type": "not graded" if result.problem else "grader error"})
        el.text = clean(body, 4 * FIELD_LIMIT)
        root.set("tests", str(int(root.get("tests", "0")) + 1))
        key = "failures" if result.problem else "errors"
        root.set(key, str(int(root.get(key, "0")) + 1))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


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


def _emoji(ex: ExerciseResult) -> str:
    if ex.not_started:
        return "⬜"
    if ex.score >= ex.max_score:
        return "✅"
    return "🟡" if ex.score > 0 else "❌"


def markdown(result: RunResult, lang: str = "en", *, student: bool = True, hints: dict | None = None) -> str:
    """A summary for ``$GITHUB_STEP_SUMMARY``: total, a table of exercises, the failures."""
    result = sanitize.scrub(result)
    t = _text(lang)
    out = [f"## {t['report']}: {_fmt(result.score)}/{_fmt(result.max_score)} "
           f"({_pct(result.score, result.max_score)})", ""]
    if result.problem:
        out += [f"> ❌ {_md(translate(line, lang), 2000)}" for line in result.problem.splitlines()[:-1]] + [""]
    if result.rejected:
        out += [f"> ❌ **{_md(t['rejected'])}:** {_md(result.rejected, 500)}", ""]
    if result.grader_errors:
        out.append(f"> ⚠️ **{_md(t['grader_error'])}**")
        out += [f"> {_md(_first_line(e), 300)}" for e in result.grader_errors[:10]]
        out.append("")
    if result.exercises:
        out += [f"| {t['exercise']} | {t['score']} | {t['max']} | {t['status']} |", "|---|---:|---:|:---:|"]
    for ex in result.exercises:
        out.append(f"| **{_md(ex.id, 100)}** {_md(_ex_title(ex, lang), 200)} | {_fmt(ex.score)} | "
                   f"{_fmt(ex.max_score)} | {_emoji(ex)} |")
    hidden_lines = []
    for ex in result.exercises:
        n_hidden, n_failed = _hidden_counts(ex)
        if n_hidden:
            hidden_lines.append("- " + _md(t["hidden_summary"].format(ex=ex.id, n=n_hidden, failed=n_failed)))
    if hidden_lines:
        out += ["", *hidden_lines]
    out.append("")
    for ex in result.exercises:
        failing = [c for c in ex.checks if c.status != "passed"]
        noted = [c for c in ex.checks if c.status == "passed" and check_notes(c, lang, ex.id)]
        if not failing and not [c for c in noted if not (c.hidden and student)]:
            continue
        shown = [c for c in ex.checks if (c in failing or c in noted) and not (c.hidden and student)]
        n_hidden_failed = len([c for c in failing if c.hidden and student])
        out += ["<details>", f"<summary><b>{_html.escape(ex.id)}</b> — {_fmt(ex.score)}/{_fmt(ex.max_score)} · "
                f"{_html.escape(t['failed_checks'].format(n=len(failing)))}</summary>", ""]
        if ex.not_started:
            out += [_md(f"{t['not_started']} — {t['start_here']}: {ex.file}"), ""]
        for c in shown:
            status = "" if c.status in ("failed", "passed") else f" `[{c.status}]`"
            out += [f"**{SYMBOL.get(shown_status(c), '?')} {_md(_title(c, lang), 300)}**{status} · "
                    f"{_fmt(c.score)}/{_fmt(c.max_score)} · `{clean(c.id, 100).replace('`', '')}`", ""]
            notes = check_notes(c, lang, ex.id)
            if notes:
                out += [*(_md(n) for n in notes), ""]
            if c.status == "passed":
                continue
            out += [_md(_message(c, lang)), ""]
            diag = _diagnosis(c, lang)
            if diag:
                out += [f"→ **{_md(t['diagnosis'])}:** {_md(diag)}", ""]
            detail = [line for kind, line in _explain_parts(ex, c, lang, hints)
                      if kind in ("input", "expected", "got", "error", "frame")]
            if detail:
                out += [_fence("\n".join(detail)), ""]
            hint = _hint(hints, ex, c, lang)
            if hint and not (c.failure is not None and c.failure.not_implemented):
                out += [f"*{_md(t['hint'])}: {_md(hint)}*", ""]
        if n_hidden_failed:
            out += [_md(t["hidden_failed"].format(n=n_hidden_failed)), ""]
        out += ["</details>", ""]
    out += ["---", f"<sub>{_html.escape(_meta_line(result, lang))} · {_html.escape(_versions(result))}</sub>",
            "", _md(next_step(result, lang)), ""]
    return "\n".join(out)


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
footer { margin-top: 24px; color: var(--muted); font-size: 0.9em; }
"""


def _e(s: Any, limit: int = FIELD_LIMIT) -> str:
    return _html.escape(clean(s, limit), quote=True)


def _anchor(ex_id: str) -> str:
    return "ex-" + re.sub(r"[^A-Za-z0-9_-]", "-", ex_id)


def _grade_class(score: float, max_score: float) -> str:
    return "full" if score >= max_score else ("partial" if score > 0 else "zero")


def _as_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def heatmap_html(heat: dict, lang: str = "en") -> str:
    """Expected and got matrices side by side, each cell shaded by its value (one shared scale)."""
    t = _text(lang)
    mats = []
    for key in ("expected", "got"):
        rows = heat.get(key) or []
        mats.append([[_as_float(v) for v in (row if isinstance(row, (list, tuple)) else [row])][:32]
                     for row in list(rows)[:32]])
    finite = [v for m in mats for row in m for v in row if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (hi - lo) or 1.0
    parts = ['<div class="heat">']
    for key, m in zip(("expected", "got"), mats):
        parts.append(f'<figure><figcaption>{_e(t[key])}</figcaption><table class="hm">')
        for row in m:
            parts.append("<tr>")
            for v in row:
                if not math.isfinite(v):
                    parts.append(f'<td class="nan" title="{v}">{v}</td>')
                    continue
                level = (v - lo) / span
                alpha = 0.06 + 0.94 * level
                cls = ' class="hi"' if level > 0.55 else ""
                parts.append(f'<td{cls} style="background: rgba(var(--hm), {alpha:.3f})" title="{v:.4g}">'
                             f"{v:.2f}</td>")
            parts.append("</tr>")
        parts.append("</table></figure>")
    parts.append("</div>")
    return "".join(parts)


def _check_html(ex: ExerciseResult, c: CheckResult, lang: str, hints: dict | None) -> str:
    t = _text(lang)
    status = shown_status(c)
    badge = "" if status in ("passed", "failed") else f' <span class="badge">{_e(status)}</span>'
    out = [f'<li class="check {_e(status)}" id="{_anchor(ex.id)}--{_e(c.id, 200)}"><div class="row">'
           f'<span class="sym">{_e(SYMBOL.get(status, "?"))}</span>'
           f'<span class="ctitle">{_e(_title(c, lang), 500)}{badge}</span>'
           f'<span class="pts">{_fmt(c.score)}/{_fmt(c.max_score)}</span></div>']
    notes = check_notes(c, lang, ex.id)
    if notes:
        out.append('<div class="detail">' + "".join(f'<p class="note">{_e(n)}</p>' for n in notes) + "</div>")
    f = c.failure
    if c.status != "passed":
        out.append('<div class="detail">')
        if f is not None and f.not_implemented:
            out.append(f'<p class="msg notimpl">{_e(t["not_implemented"])}</p>')
        else:
            out.append(f'<p class="msg">{_e(_message(c, lang))}</p>')
        if f is not None and not f.not_implemented:
            if f.input:
                out.append(f'<div><span class="label">{_e(t["input"])}</span><pre>{_e(f.input)}</pre></div>')
            if f.expected or f.got:
                w = max(len(t["expected"]), len(t["got"]))
                out.append(f'<pre><span class="label">{_e(t["expected"].ljust(w))}</span> {_e(f.expected)}\n'
                           f'<span class="label">{_e(t["got"].ljust(w))}</span> {_e(f.got)}</pre>')
            if f.error:
                out.append(f'<div><span class="label">{_e(t["error"])}</span><pre>{_e(f.error)}</pre></div>')
            if isinstance(f.heatmap, dict):
                out.append(heatmap_html(f.heatmap, lang))
            diag = _diagnosis(c, lang)
            if diag:
                out.append(f'<p class="diag">→ {_e(t["diagnosis"])}: {_e(diag)}</p>')
            frames = _frame_lines(f.frames, t)
            if frames:
                out.append(f'<pre class="frames">{_e(chr(10).join(frames))}</pre>')
        hint = _hint(hints, ex, c, lang)
        if hint and not (f is not None and f.not_implemented):
            out.append(f'<p class="hint">{_e(t["hint"])}: {_e(hint)}</p>')
        out.append("</div>")
    out.append("</li>")
    return "".join(out)


def _exercise_html(ex: ExerciseResult, lang: str, student: bool, hints: dict | None) -> str:
    t = _text(lang)
    out = [f'<section class="exercise" id="{_anchor(ex.id)}"><h2><span>{_e(ex.id)}</span>'
           f'<span class="{_grade_class(ex.score, ex.max_score)}">{_fmt(ex.score)}/{_fmt(ex.max_score)}</span>'
           f'<span class="muted">{_e(_ex_title(ex, lang))}</span></h2>']
    if ex.not_started:
        out.append(f'<p class="partial">{_e(t["not_started"])} — {_e(t["start_here"])}: '
                   f'<code>{_e(ex.file)}</code></p>')
    out.append('<ul class="checks">')
    hidden_failed = 0
    for c in ex.checks:
        if c.hidden and student:
            hidden_failed += c.status != "passed"
            continue
        out.append(_check_html(ex, c, lang, hints))
    out.append("</ul>")
    n_hidden, _ = _hidden_counts(ex)
    if n_hidden and student:
        note = t["hidden_summary"].format(ex=ex.id, n=n_hidden, failed=hidden_failed)
        out.append(f'<p class="hidden-note">{_e(note)}</p>')
    if ex.output.strip() and any(c.status != "passed" for c in ex.checks) and not (student and n_hidden):
        tail = "\n".join(line[:200] for line in clean(ex.output).strip().splitlines()[-20:])
        out.append(f'<div><span class="label">{_e(t["output"])}</span><pre>{_e(tail)}</pre></div>')
    out.append("</section>")
    return "".join(out)


def html(result: RunResult, lang: str = "en", *, student: bool = True, hints: dict | None = None) -> str:
    """A self-contained HTML report (inline CSS, no scripts, no external resources)."""
    result = sanitize.scrub(result)
    t = _text(lang)
    total = f"{_fmt(result.score)}/{_fmt(result.max_score)} ({_pct(result.score, result.max_score)})"
    out = ["<!DOCTYPE html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<meta name="color-scheme" content="light dark">',
           f"<title>{_e(t['report'])}: {_e(total)}</title>", f"<style>{CSS}</style></head>",
           "<body><main><header>", f"<h1>{_e(t['report'])}</h1>",
           f'<p class="total {_grade_class(result.score, result.max_score)}">{_e(t["score"])}: {_e(total)}</p>',
           f'<p class="meta">{_e(_meta_line(result, lang))}<br>{_e(_versions(result))}</p></header>']
    if result.problem:
        out.append('<div class="errors">' + "".join(f"<p>{_e(translate(line, lang))}</p>"
                                                    for line in result.problem.splitlines()[:-1]) + "</div>")
    if result.rejected:
        out.append(f'<div class="errors"><p><b>{_e(t["rejected"])}</b>: {_e(result.rejected)}</p></div>')
    if result.grader_errors:
        out.append(f'<div class="errors"><p><b>{_e(t["grader_error"])}</b></p><ul>')
        out += [f"<li>{_e(_first_line(e))}</li>" for e in result.grader_errors[:20]]
        out.append("</ul></div>")
    if result.exercises:
        out.append(f'<table class="summary"><thead><tr><th>{_e(t["exercise"])}</th><th>{_e(t["score"])}</th>'
                   f'<th>{_e(t["max"])}</th><th>{_e(t["checks"])}</th></tr></thead><tbody>')
    for ex in result.exercises:
        passed = sum(c.status == "passed" for c in ex.checks)
        out.append(f'<tr><td><a href="#{_anchor(ex.id)}">{_e(ex.id)}</a> '
                   f'<span class="muted">{_e(_ex_title(ex, lang))}</span></td>'
                   f'<td class="num {_grade_class(ex.score, ex.max_score)}">{_fmt(ex.score)}</td>'
                   f'<td class="num">{_fmt(ex.max_score)}</td><td class="num">{passed}/{len(ex.checks)}</td></tr>')
    if result.exercises:
        out.append("</tbody></table>")
    out += [_exercise_html(ex, lang, student, hints) for ex in result.exercises]
    out.append(f"<footer><p><b>{_e(next_step(result, lang))}</b></p></footer></main></body></html>")
    return "\n".join(out) + "\n"


# --- several at once -------------------------------------------------------------------------


def rich_text(result: RunResult, lang: str = "en", *, student: bool = True, hints: dict | None = None) -> str:
    """The terminal report as plain text, 100 columns wide."""
    buf = StringIO()
    console = Console(file=buf, width=100, no_color=True, color_system=None, highlight=False,
                      soft_wrap=False, emoji=False, force_terminal=False, force_jupyter=False)
    render(result, console, lang, hints, student)
    return buf.getvalue()


def render_format(result: RunResult, fmt: str, lang: str = "en", *, student: bool = True,
                  hints: dict | None = None) -> str:
    """One format as text (``fmt`` in :data:`FORMATS`)."""
    if fmt == "json":
        return json_text(result, student)
    if fmt == "gradescope":
        return gradescope_text(result, student, lang=lang, hints=hints)
    if fmt == "junit":
        return junit(result, student=student, lang=lang, hints=hints)
    if fmt == "markdown":
        return markdown(result, lang, student=student, hints=hints)
    if fmt == "html":
        return html(result, lang, student=student, hints=hints)
    if fmt == "rich":
        return rich_text(result, lang, student=student, hints=hints)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def write_all(result: RunResult, out_dir: Path | str, formats: list[str] | tuple[str, ...] = FORMATS,
              lang: str = "en", *, student: bool = True, hints: dict | None = None) -> dict[str, Path]:
    """Write each format to ``out_dir`` under its :data:`FILENAMES` name, atomically."""
    unknown = [f for f in formats if f not in FILENAMES]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; known: {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    for fmt in dict.fromkeys(formats):
        path = out_dir / FILENAMES[fmt]
        write_atomic(path, render_format(result, fmt, lang, student=student, hints=hints))
        written[fmt] = path
    return written


__all__ = ["FILENAMES", "FORMATS", "clean", "explain", "gradescope", "gradescope_text", "heatmap_html", "html",
           "junit", "markdown", "render_format", "rich_text", "write_all"]
