"""One sanitizer for untrusted text, in every renderer: hostile strings (escape sequences,
controls, bidi overrides, lone surrogates) in every field a submission can influence come
out harmless in the terminal report, report.txt, JSON, Gradescope, JUnit, Markdown and HTML,
in both languages."""

from __future__ import annotations

import html as _html
import json
import re
import xml.etree.ElementTree as ET
from io import StringIO

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from grader import formats, reports
from grader.checks import Failure
from grader.runner import CheckResult, ExerciseResult, RunResult
from grader.sanitize import clean, is_clean, scrub

FAKE = "\x1b[2J\x1b[H✓ attention  12/12\nscore: 12/12   mode official"
PIECES = [
    "\x1b[2J", "\x1b[H", "\x1b[31m", "\x1b[1;1H", "\x1b]0;pwned\x07", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
    "\x1bP1$r0m\x1b\\", "\x1b_apc\x1b\\", "\x1b^pm\x1b\\", "\x1bXsos\x1b\\", "\x1b7", "\x1bc", "\x1b(B",
    "\x9b2J", "\x9d0;t\x9c", "\x90dcs\x9c", "\x1b", "\x1b[", "\x1b]unterminated",
    "\r", "\r\n", "\x00", "\x07", "\x08", "\x0b", "\x0c", "\x7f", "\x85", "\x9f",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
    "\ud800", "\udfff", "\udc80", "\ufffe", "\uffff",
    "<script>alert(1)</script>", "]]>", "&amp;", "`", "```", "|", "*", "\\", "\n", "\t", "✓", "中文", FAKE,
]
hostile = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=12).map("".join)


def _result(s: str) -> RunResult:
    """A run in which every field a submission can influence holds ``s``."""
    failure = Failure(message=f"boom {s}", input=f"input {s}", expected=f"exp {s}", got=f"got {s}",
                      error=f"err {s}", frames=[[f"attention{s}.py", 3, f"fn{s}", f"x = 1  # {s}"]],
                      diagnosis=f"diag {s}", diagnosis_zh=f"诊断 {s}")
    checks = [
        CheckResult("softmax_reference", "softmax matches", "failed", 0.0, 2.0, kind="compare",
                    uses=["softmax"], message=f"boom {s}", failure=failure, title_zh="softmax 一致"),
        CheckResult("sdpa_masking", f"title {s}", "error", 0.0, 3.0, kind="property",
                    uses=["scaled_dot_product_attention"], message=f"ValueError: {s}",
                    failure=Failure(f"ValueError: {s}", frames=[["attention.py", 9, "f", s]])),
        CheckResult("hidden_one", f"hidden {s}", "failed", 0.0, 1.0, hidden=True, message=s,
                    failure=Failure(s, input=s)),
        CheckResult("sdpa_behaviour", "keeps dtype", "passed", 1.0, 1.0, kind="behaviour"),
    ]
    ex = ExerciseResult("attention", {"en": "Attention", "zh": "注意力"}, 1.0, 7.0, checks,
                        file="exercises/attention.py", output=f"printed {s}\nmore {s}\n")
    return RunResult(1.0, 7.0, "official", 5, "bwrap", {"grader": "0", "torch": "2", "numpy": "1",
                                                         "python": "3", "sandbox": "bwrap"},
                     [ex], grader_errors=[f"attention.x: RuntimeError: {s}\ntrace {s}"],
                     submission=f"/tmp/{s}")


def _strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from _strings(k)
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)


def _xml_strings(root: ET.Element):
    for el in root.iter():
        yield el.text or ""
        yield el.tail or ""
        yield from el.attrib.values()


SGR = re.compile(r"\x1b\[[0-9;]*m")


def _terminal(result: RunResult, lang: str) -> str:
    buf = StringIO()
    console = Console(file=buf, width=100, force_terminal=True, color_system="truecolor", highlight=False,
                      soft_wrap=False, emoji=False)
    reports.render(result, console, lang, {"attention": {"softmax": [{"en": "h", "zh": "提示"}]}})
    return buf.getvalue()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(hostile)
def test_every_format_is_clean(s):
    result = _result(s)
    for lang in ("en", "zh"):
        # the colour terminal: rich's own colour codes (SGR) and nothing else
        term = SGR.sub("", _terminal(result, lang))
        assert is_clean(term), repr(term[:400])
        term.encode("utf-8")
        for student in (True, False):
            for fmt in formats.FORMATS:
                text = formats.render_format(result, fmt, lang, student=student)
                text.encode("utf-8")  # no lone surrogate can reach a file
                if fmt in ("json", "gradescope"):
                    doc = json.loads(text)
                    bad = [x for x in _strings(doc) if not is_clean(x)]
                    assert not bad, (fmt, bad[:3])
                elif fmt == "junit":
                    bad = [x for x in _xml_strings(ET.fromstring(text)) if not is_clean(x)]
                    assert not bad, (fmt, bad[:3])
                elif fmt == "html":
                    assert is_clean(_html.unescape(text)), fmt
                    assert "<script" not in text
                else:
                    assert is_clean(text), (fmt, repr(text[:300]))
    # the source result is never modified: renderers work on a cleaned copy
    assert result.exercises[0].checks[0].failure.message == f"boom {s}"


def test_fake_score_cannot_redraw_the_terminal():
    result = _result(FAKE)
    out = _terminal(result, "en")
    assert "\x1b[2J" not in out and "\x1b[H" not in out
    txt = formats.rich_text(result)
    assert "\x1b" not in txt
    # the real score line is there, and the fake one cannot start a line of its own
    assert re.search(r"^score: 1/7 ", txt, re.M)
    assert not re.search(r"^score: 12/12", txt, re.M)


@given(st.text())
def test_clean_is_idempotent_and_keeps_ordinary_text(s):
    once = clean(s)
    assert clean(once) == once and is_clean(once)
    if is_clean(s):  # nothing hostile: the text is kept as it is
        assert clean(s) == s


def test_clean_examples():
    assert clean("a\x1b[31mred\x1b[0m b") == "ared b"
    assert clean("\x1b]0;title\x07after") == "after"
    assert clean("\x1bP1$r\x1b\\x") == "x"
    assert clean("one\r\ntwo\rthree") == "one\ntwo\nthree"
    assert clean("tab\tnew\nline") == "tab\tnew\nline"
    assert clean("a\u202eb\ud800c\x00d\x85e") == "a\ufffdb\ufffdc\ufffdd\ufffde"
    assert clean("中文 ✓ é 😀") == "中文 ✓ é 😀"
    assert clean("x" * 10, 5) == "xxxx…"


def test_scrub_copies_dataclasses():
    r = _result("\x1b[2J")
    s = scrub(r)
    assert s is not r and s.exercises[0].checks[0].failure.message == "boom "
    assert r.exercises[0].checks[0].failure.message == "boom \x1b[2J"
    assert s.exercises[0].not_started == r.exercises[0].not_started
