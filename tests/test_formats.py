"""The CI formats (Gradescope, JUnit, Markdown, HTML, write_all) rendered from real grading runs."""

from __future__ import annotations

import copy
import json
import math
import re
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader import formats
from grader.checks import Failure
from grader.cli import all_hints
from grader.runner import RunResult
from tests.harness import EXERCISES, MISTAKES, grade, submission_from_reference

DIAGNOSIS = "Your scores are not divided by sqrt(dk)."
DIAGNOSIS_ZH = "你的注意力分数没有除以 sqrt(dk)。"
XSS = "<script>alert(1)</script>"
SECRET = "SECRET-hidden-4f1c"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def passing(zygote, tmp_path_factory) -> RunResult:
    sub = submission_from_reference(tmp_path_factory.mktemp("pass"))
    return grade(zygote, sub, ["attention"])


@pytest.fixture(scope="module")
def failing(zygote, tmp_path_factory) -> RunResult:
    mistake = (MISTAKES / "attention" / "sdpa_no_scale.py").read_text(encoding="utf-8")
    sub = submission_from_reference(tmp_path_factory.mktemp("fail"), {"attention": mistake})
    return grade(zygote, sub, ["attention"])


def _check(result: RunResult, check_id: str):
    return next(c for ex in result.exercises for c in ex.checks if c.id == check_id)


@pytest.fixture()
def hidden(failing) -> RunResult:
    """The failing run with one failed and one passed check hidden, the failed one carrying a secret."""
    r = copy.deepcopy(failing)
    c = _check(r, "sdpa_reference")
    assert c.status == "failed"
    c.hidden = True
    c.title = c.title_zh = f"title {SECRET}"
    c.failure.message = c.message = f"message {SECRET}"
    c.failure.input = f"input {SECRET}"
    c.failure.diagnosis = f"diagnosis {SECRET}"
    passed = _check(r, "sdpa_masking")
    assert passed.status == "passed"
    passed.hidden = True
    passed.title = f"passed title {SECRET}"
    return r


@pytest.fixture()
def hostile(failing) -> RunResult:
    """Student-controlled text full of markup, control characters and a lone surrogate."""
    r = copy.deepcopy(failing)
    c = _check(r, "sdpa_reference")
    f = c.failure
    f.message = c.message = f"boom {XSS} & \x1b[31mred\x1b[0m \x00\x07 \ud800 ]]> `fence` | pipe"
    f.input = f"input {XSS}"
    f.got = f"got {XSS}"
    f.frames = [["attention.py", 12, "scaled_dot_product_attention", f"x = 1  # {XSS}"]]
    r.exercises[0].output = f"printed {XSS}\n"
    return r


def test_failing_run_is_what_the_tests_expect(failing, passing):
    assert passing.score == passing.max_score > 0
    assert 0 < failing.score < failing.max_score
    c = _check(failing, "sdpa_reference")
    assert c.status == "failed" and c.failure.diagnosis == DIAGNOSIS
    assert c.failure.heatmap is not None


# --- Gradescope ------------------------------------------------------------------------------


def _check_gradescope(doc: dict, result: RunResult) -> None:
    json.dumps(doc, allow_nan=False)
    for key, kind in [("score", float), ("execution_time", int), ("output", str), ("visibility", str),
                      ("stdout_visibility", str), ("tests", list)]:
        assert isinstance(doc[key], kind), key
    assert doc["visibility"] == "visible"
    assert math.isclose(sum(t["score"] for t in doc["tests"]), doc["score"], abs_tol=1e-6)
    assert math.isclose(doc["score"], result.score)
    assert math.isclose(sum(t["max_score"] for t in doc["tests"]), result.max_score)
    assert len(doc["tests"]) == sum(len(ex.checks) for ex in result.exercises)
    for t in doc["tests"]:
        assert {"name", "number", "score", "max_score", "status", "output", "tags", "visibility"} <= set(t)
        assert t["status"] in ("passed", "failed")
        assert isinstance(t["score"], float) and isinstance(t["max_score"], float)
        assert isinstance(t["tags"], list) and all(isinstance(x, str) for x in t["tags"])
        assert t["visibility"] in ("visible", "after_published")
    assert str(result.seed) in doc["output"] and result.mode in doc["output"] and result.sandbox in doc["output"]
    for v in ("grader", "torch", "numpy", "python"):
        assert f"{v} {result.versions[v]}" in doc["output"]


def test_gradescope_all_pass(passing):
    doc = formats.gradescope(passing)
    _check_gradescope(doc, passing)
    assert all(t["status"] == "passed" and t["output"] == "" for t in doc["tests"])
    assert doc["tests"][0]["name"].startswith("attention · ")
    assert doc["tests"][0]["number"] == f"attention.{passing.exercises[0].checks[0].id}"


def test_gradescope_failures_explained(failing):
    doc = formats.gradescope(failing, hints=all_hints())
    _check_gradescope(doc, failing)
    t = next(t for t in doc["tests"] if t["number"] == "attention.sdpa_reference")
    c = _check(failing, "sdpa_reference")
    assert t["status"] == "failed" and t["score"] == 0 and t["max_score"] == c.max_score
    assert t["tags"] == ["attention", "compare"]
    for part in (c.failure.message, c.failure.input, c.failure.expected, c.failure.got, DIAGNOSIS, "hint: "):
        assert part in t["output"]
    json.loads(formats.gradescope_text(failing))  # serialisable as written


def test_gradescope_hidden_checks(hidden):
    doc = formats.gradescope(hidden)
    _check_gradescope(doc, hidden)
    assert SECRET not in json.dumps(doc, ensure_ascii=False)
    hid = [t for t in doc["tests"] if t["visibility"] == "after_published"]
    assert [t["name"] for t in hid] == ["hidden check 1 of attention", "hidden check 2 of attention"]
    assert [t["output"] for t in hid] == ["failed", "passed"]
    assert [t["score"] for t in hid] == [0.0, _check(hidden, "sdpa_masking").max_score]
    assert "attention: 2 hidden check(s), 1 failed" in doc["output"]
    # the instructor's view names them, still only after publication
    staff = formats.gradescope(hidden, student=False)
    assert SECRET in json.dumps(staff, ensure_ascii=False)
    assert sum(t["visibility"] == "after_published" for t in staff["tests"]) == 2


# --- JUnit -----------------------------------------------------------------------------------


def _parse_junit(text: str) -> ET.Element:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    return root


def test_junit_counts_match(failing):
    r = copy.deepcopy(failing)
    checks = r.exercises[0].checks
    checks[0].status, checks[0].failure = "timeout", Failure("took longer than 10 s")
    checks[1].status, checks[1].failure = "skipped", Failure("grader error (not your fault)")
    checks[2].status, checks[2].failure = "crashed", Failure("the worker died (signal 11)")
    root = _parse_junit(formats.junit(r))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [ex.id for ex in r.exercises]
    suite = suites[0]
    cases = suite.findall("testcase")
    assert len(cases) == len(checks) == int(suite.get("tests")) == int(root.get("tests"))
    assert {c.get("classname") for c in cases} == {"grader.attention"}
    assert [c.get("name") for c in cases] == [c.id for c in checks]
    assert all(float(c.get("time")) >= 0 for c in cases)
    n_failed = sum(c.status == "failed" for c in checks)
    assert int(suite.get("failures")) == len(suite.findall("testcase/failure")) == n_failed == 2
    assert int(suite.get("errors")) == len(suite.findall("testcase/error")) == 2
    n_skipped = sum(c.status == "skipped" or (c.status == "passed" and bool(c.withheld)) for c in checks)
    assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped")) == n_skipped >= 1
    assert cases[0].find("error").get("type") == "timeout"
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert props["seed"] == str(r.seed) and props["mode"] == r.mode and props["sandbox"] == r.sandbox
    assert props["version.torch"] == r.versions["torch"]
    fail = next(c for c in cases if c.get("name") == "sdpa_reference").find("failure")
    assert fail.get("message") and DIAGNOSIS in fail.text


def test_junit_all_pass(passing):
    root = _parse_junit(formats.junit(passing))
    assert root.get("failures") == root.get("errors") == root.get("skipped") == "0"
    assert not root.findall(".//failure")


def test_junit_escapes_hostile_text_and_hides_hidden(hostile, hidden):
    root = _parse_junit(formats.junit(hostile))  # control characters and a surrogate would not parse
    fail = root.find(".//testcase[@name='sdpa_reference']/failure")
    assert XSS in fail.get("message") and XSS in fail.text
    text = formats.junit(hidden)
    assert SECRET not in text
    root = _parse_junit(text)
    assert [c.get("name") for c in root.iter("testcase") if c.get("name").startswith("hidden-")] == \
        ["hidden-1", "hidden-2"]


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_failures(failing):
    md = formats.markdown(failing, hints=all_hints())
    pct = 100 * failing.score / failing.max_score
    assert md.startswith(f"## Grading report: {failing.score:g}/{failing.max_score:g} ({pct:.1f}%)")
    assert "| exercise | score | max | status |" in md
    ex = failing.exercises[0]
    assert re.search(rf"^\| \*\*attention\*\* .* \| {ex.score:g} \| {ex.max_score:g} \| 🟡 \|$", md, re.M), md
    assert "<details>" in md and "</details>" in md
    assert DIAGNOSIS in md
    assert "scaled\\_dot\\_product\\_attention matches the reference" in md
    assert _check(failing, "sdpa_reference").failure.got in md  # the detail block is verbatim
    assert str(failing.seed) in md and failing.versions["torch"] in md


def test_markdown_all_pass(passing):
    md = formats.markdown(passing)
    ex = passing.exercises[0]
    assert "<details>" not in md and f"| {ex.score:g} | {ex.max_score:g} | ✅ |" in md and "(100.0%)" in md


def test_markdown_zh(failing):
    md = formats.markdown(failing, "zh")
    assert DIAGNOSIS_ZH in md and "缩放点积注意力与参考实现一致" in md and "| 练习 |" in md


def test_markdown_hidden_and_hostile(hidden, hostile):
    md = formats.markdown(hidden)
    assert SECRET not in md
    assert "attention: 2 hidden check(s), 1 failed" in md and "1 hidden check(s) failed" in md
    md = formats.markdown(hostile)
    # outside code blocks student text is escaped; inside one it is literal text, never markup
    fences = re.findall(r"^(`{3,})text\n(.*?)\n\1$", md, re.M | re.S)
    assert any(f"got {XSS}" in body for _, body in fences)
    prose = re.sub(r"^(`{3,})text\n.*?\n\1$", "", md, flags=re.M | re.S)
    assert "<script" not in prose and "&lt;script&gt;" in prose
    assert "\x1b" not in md and "\x00" not in md
    md.encode("utf-8")


# --- HTML ------------------------------------------------------------------------------------

VOID = {"meta", "br", "hr", "img", "input", "link"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "table" and ("class", "hm") in attrs:
            self.tables.append([])
        if tag == "tr" and self.tables and "table" in self.stack:
            self.tables[-1].append([])
        if tag == "td" and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(dict(attrs).get("style", ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse_html(text: str) -> _Checker:
    p = _Checker()
    p.feed(text)
    p.close()
    assert not p.errors, p.errors[:5]
    assert not p.stack, p.stack
    return p


def test_html_failures(failing):
    page = formats.html(failing, hints=all_hints())
    p = _parse_html(page)
    text = " ".join(p.text)
    c = _check(failing, "sdpa_reference")
    for part in (c.title, c.failure.message, c.failure.input, c.failure.expected, c.failure.got,
                 c.failure.error, DIAGNOSIS, "hint"):
        assert part in text, part
    assert "script" not in p.tags
    # self-contained: no external resources at all
    assert not re.search(r"""(?:src|href)\s*=\s*(?!["']?#)""", page)
    assert "@import" not in page and "url(" not in page
    assert "prefers-color-scheme: dark" in page
    # the heatmap: expected and got side by side, every cell coloured
    heat = c.failure.heatmap
    assert len(p.tables) == 2
    for table, key in zip(p.tables, ("expected", "got")):
        assert [len(row) for row in table] == [len(row) for row in heat[key]]
        assert all("background" in style for row in table for style in row)


def test_html_all_pass_and_zh(passing, failing):
    p = _parse_html(formats.html(passing))
    assert "✗" not in " ".join(p.text)
    zh = " ".join(_parse_html(formats.html(failing, "zh")).text)
    assert DIAGNOSIS_ZH in zh and "缩放点积注意力与参考实现一致" in zh and "最小的失败输入" in zh


def test_html_escapes_student_text(hostile):
    page = formats.html(hostile, student=False)
    p = _parse_html(page)
    assert "script" not in p.tags and "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # message, input, got, frame, output
    assert "\x1b" not in page and "\x00" not in page
    page.encode("utf-8")


def test_html_hides_hidden(hidden):
    page = formats.html(hidden)
    assert SECRET not in page
    assert "attention: 2 hidden check(s), 1 failed" in page
    assert SECRET in formats.html(hidden, student=False)


def test_heatmap_tolerates_non_finite_values():
    out = formats.heatmap_html({"expected": [[0.5, 0.5]], "got": [[float("nan"), float("inf")]]})
    p = _parse_html(out)
    assert len(p.tables) == 2 and "nan" in " ".join(p.text)


def test_untouched_stub_renders_as_not_started(zygote, tmp_path):
    stub = (EXERCISES / "attention.py").read_text(encoding="utf-8")
    r = grade(zygote, submission_from_reference(tmp_path, replace={"attention": stub}), ["attention"])
    assert r.exercises[0].not_started and r.score == 0
    doc = formats.gradescope(r)
    _check_gradescope(doc, r)
    assert all(t["status"] == "failed" for t in doc["tests"])
    assert "not implemented yet" in doc["tests"][0]["output"]
    assert "not started" in formats.markdown(r) and "⬜" in formats.markdown(r)
    assert "not started" in " ".join(_parse_html(formats.html(r)).text)
    _parse_junit(formats.junit(r))


# --- write_all -------------------------------------------------------------------------------


def test_write_all(failing, tmp_path):
    paths = formats.write_all(failing, tmp_path / "out", list(formats.FORMATS), "en", hints=all_hints())
    assert set(paths) == set(formats.FORMATS)
    assert {p.name for p in paths.values()} == {"report.json", "results.json", "junit.xml", "summary.md",
                                                "report.html", "report.txt"}
    for p in paths.values():
        assert p.parent == tmp_path / "out" and p.stat().st_size > 0
    assert not list((tmp_path / "out").glob(".*.tmp"))
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["score"] == failing.score
    _check_gradescope(json.loads(paths["gradescope"].read_text(encoding="utf-8")), failing)
    _parse_junit(paths["junit"].read_text(encoding="utf-8"))
    _parse_html(paths["html"].read_text(encoding="utf-8"))
    txt = paths["rich"].read_text(encoding="utf-8")
    assert "attention" in txt and DIAGNOSIS in txt and "\x1b" not in txt
    assert max(len(line) for line in txt.splitlines()) <= 100


def test_write_all_rejects_unknown_format(failing, tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        formats.write_all(failing, tmp_path, ["markdown", "pdf"], "en")
    assert not list(tmp_path.iterdir())


# --- a real browser --------------------------------------------------------------------------


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _first_pixel(png: bytes) -> tuple[int, int, int]:
    """The top-left pixel of an 8-bit RGB(A) PNG (row 0, pixel 0 is stored unfiltered in effect)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None and header[2] == 8 and header[3] in (2, 6), header
    raw = zlib.decompressobj().decompress(idat, 64)
    return raw[1], raw[2], raw[3]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed (/usr/bin/chromium; .ci/run installs "
                                                  "the Debian package): the HTML report is not checked in a browser")
def test_html_in_headless_chromium(failing, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(formats.html(failing, hints=all_hints()), encoding="utf-8")
    dom = _chromium(["--dump-dom", page.as_uri()], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    c = _check(failing, "sdpa_reference")
    assert c.title in dom.stdout and DIAGNOSIS in dom.stdout
    assert "<script" not in dom.stdout
    shots = {}
    for scheme, extra in (("light", []), ("dark", ["--force-dark-mode",
                                                   "--blink-settings=preferredColorScheme=0"])):
        png = tmp_path / f"{scheme}.png"
        shot = _chromium([*extra, f"--screenshot={png}", "--window-size=1000,1400", page.as_uri()],
                         tmp_path / f"profile-{scheme}")
        assert shot.returncode == 0 and png.exists() and png.stat().st_size > 1000, shot.stderr[-2000:]
        shots[scheme] = _first_pixel(png.read_bytes())
    assert min(shots["light"]) > 200, shots  # white page in light mode
    assert max(shots["dark"]) < 60, shots  # dark page when the browser prefers dark

