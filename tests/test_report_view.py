"""One view of a result for every report (grader/view.py): hidden checks redacted once (the
student view is the default everywhere, ``--staff`` shows all), messages localised once, and
every renderer (terminal, text, JSON, Markdown, HTML, JUnit, Gradescope) only lays it out."""

from __future__ import annotations

import io
import json
import math
import re

import pytest

from grader import formats, reports, view
from grader.checks import Failure
from grader.messages import msg
from grader.runner import CheckResult, ExerciseResult, RunResult

SECRET = "SECRETx9q"
VERSIONS = {"grader": "0", "torch": "2", "numpy": "1", "python": "3"}


def _hidden_result() -> RunResult:
    differs = msg("compare_values.path_differs_reference", path="output")
    error = msg("compare_values.max_error", abs_err=1, rel_err=1, where="output[0]", atol=1e-6, rtol=0.0)
    visible = CheckResult("open_check", "the open check", "failed", 0, 2, kind="compare", uses=["f"],
                          message=differs,
                          failure=Failure(differs, input="f(1)", expected="1", got="2", error=error))
    hidden_failed = CheckResult(
        f"hid_{SECRET}", f"title {SECRET}", "failed", 0, 3, kind="compare", uses=["f"], hidden=True,
        title_zh=f"标题 {SECRET}", message=f"message {SECRET}",
        failure=Failure(f"message {SECRET}", input=f"input {SECRET}", expected=f"exp {SECRET}", got=f"got {SECRET}",
                        error=f"error {SECRET}", diagnosis=f"diag {SECRET}", diagnosis_zh=f"诊断 {SECRET}",
                        frames=[["x.py", 3, "f", f"code {SECRET}"]],
                        heatmap={"expected": [[0.5, 0.5]], "got": [[0.1, 0.9]], "tensor": f"t{SECRET}"}))
    hidden_passed = CheckResult(
        f"quality_{SECRET}", f"quality {SECRET}", "passed", 4, 4, kind="quality", hidden=True,
        message=f"note {SECRET}",
        margin={"metric": f"metric {SECRET}", "value": 0.9, "needed": 0.5, "seconds": 1.0, "budget": 10.0})
    hidden_withheld = CheckResult(f"banned_{SECRET}", f"banned {SECRET}", "passed", 0, 1, hidden=True,
                                  withheld=f"points withheld {SECRET}")
    hidden_error = CheckResult(f"err_{SECRET}", f"err {SECRET}", "error", 0, 1, hidden=True,
                               failure=Failure(f"boom {SECRET}"))
    ex = ExerciseResult("attention", {"en": "Attention", "zh": "注意力"}, 4, 11,
                        [visible, hidden_failed, hidden_passed, hidden_withheld, hidden_error],
                        file="exercises/attention.py", output=f"printed {SECRET}\n")
    return RunResult(4, 11, "local", 0, "process", VERSIONS, [ex],
                     grader_errors=[f"attention.err_{SECRET}: worker said {SECRET}"])


def _terminal(result, lang: str, student: bool, width: int = 100) -> str:
    buf = io.StringIO()
    reports.render(result, reports.make_console(file=buf, width=width), lang, {}, student=student)
    return buf.getvalue()


def _every_format(result, lang: str, student: bool) -> dict[str, str]:
    out = {fmt: formats.render_format(result, fmt, lang, student=student) for fmt in formats.FORMATS}
    out["terminal"] = _terminal(result, lang, student)
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_student_view_never_shows_a_hidden_check(lang):
    result = _hidden_result()
    for fmt, text in _every_format(result, lang, student=True).items():
        assert SECRET not in text, (fmt, text[text.find(SECRET) - 300:text.find(SECRET) + 100])
        assert "open_check" in text or "the open check" in text, fmt  # the visible one is there
    # the defaults are the student view, JSON and terminal included
    assert SECRET not in reports.json_text(result) and SECRET not in formats.render_format(result, "json")
    buf = io.StringIO()
    reports.render(result, reports.make_console(file=buf, width=100))
    assert SECRET not in buf.getvalue()
    assert SECRET not in json.dumps(reports.to_json(result))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_staff_view_shows_everything(lang):
    result = _hidden_result()
    for fmt, text in _every_format(result, lang, student=False).items():
        assert SECRET in text, fmt
    doc = reports.to_json(result, student=False)
    checks = doc["exercises"][0]["checks"]
    assert checks[1]["name"] == f"hid_{SECRET}" and checks[1]["details"]["input"] == f"input {SECRET}"


def test_student_view_counts_hidden_checks():
    v = view.build(_hidden_result())
    ex = v.exercises[0]
    assert ex.hidden_total == 4 and ex.hidden_failed == 2
    placeholders = [c for c in ex.checks if c.redacted]
    assert [c.id for c in placeholders] == ["hidden-1", "hidden-2", "hidden-3", "hidden-4"]
    assert [c.status for c in placeholders] == ["failed", "passed", "passed", "failed"]
    assert sum(c.score for c in ex.checks) == 4  # the points still count
    assert not ex.output  # what the program printed could show a hidden input
    assert v.grader_errors == ["attention.hidden-4: grader error"]
    doc = json.loads(formats.render_format(_hidden_result(), "gradescope"))
    assert math.isclose(sum(t["score"] for t in doc["tests"]), 4)
    assert [t["name"] for t in doc["tests"] if t["visibility"] == "after_published"] == [
        f"hidden check {i} of attention" for i in range(1, 5)]


def test_one_table_of_formats():
    from grader import cli

    assert list(cli.FORMATS) == list(formats.REGISTRY) == list(formats.FORMATS)
    assert formats.FILENAMES == {name: f.filename for name, f in formats.REGISTRY.items()}
    run = cli.main.commands["run"]
    choices = next(p.type.choices for p in run.params if p.name == "fmts")
    assert list(choices) == list(formats.FORMATS)


def test_explanation_is_built_once():
    """The terminal, Gradescope and JUnit show one and the same explanation of a check."""
    result = _hidden_result()
    c = view.build(result, "zh").exercises[0].checks[0]
    body = c.text()
    assert "最大绝对误差" in body and "期望" in body
    gs = json.loads(formats.render_format(result, "gradescope", "zh"))["tests"][0]["output"]
    assert gs == body
    assert body.replace("\n", "") in "".join(_terminal(result, "zh", True, 200).split("\n      "))


# --- real wrong submissions, every format, both languages --------------------------------------

WRONG = {"attention": "sdpa_no_scale", "lora": "merge_without_scaling", "heads": "sampling_accepts_invalid_arguments",
         "masking": "combine_or", "positional": "rope_rotate_half_sign", "generation": "top_p_no_checks",
         "ffn": "memory_softmax_wrong_axis", "objectives": "masked_lm_nan_when_nothing_masked",
         "embedding": "cosine_no_eps"}
STUB = "classic"  # the untouched stub: "not implemented yet"


@pytest.fixture(scope="module")
def wrong(zygote, tmp_path_factory) -> RunResult:
    """Kept mistakes across exercises (nan / inf outputs included), graded in local mode."""
    from tests.harness import EXERCISES, MISTAKES, grade, submission_from_reference

    overrides = {ex: (MISTAKES / ex / f"{name}.py").read_text(encoding="utf-8") for ex, name in WRONG.items()}
    sub = submission_from_reference(tmp_path_factory.mktemp("wrong"), overrides,
                                    {STUB: (EXERCISES / f"{STUB}.py").read_text(encoding="utf-8")})
    result = grade(zygote, sub, [*WRONG, STUB], "local")
    assert all(ex.score < ex.max_score for ex in result.exercises), [(e.id, e.score) for e in result.exercises]
    return result


_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]*(?: [A-Za-z][A-Za-z'-]*)+")


def _fragments(text: str) -> list[str]:
    return [m.group(0) for m in _WORDS.finditer(text) if len(m.group(0).split()) >= 2 and len(m.group(0)) >= 8]


def english_engine_phrases() -> set[str]:
    """What the engine writes in English: the report labels and the engine's message templates
    (grader/course/i18n/en/engine.toml; checks and the runner write ids, not sentences)."""
    from grader.messages import catalog

    out: set[str] = set()
    for key, en in view.TEXT["en"].items():
        if view.TEXT["zh"][key] != en:
            for part in re.split(r"\{[^}]*\}", en):
                out.update(_fragments(part))
    for en in catalog("en", "engine").values():
        for part in re.split(r"\{[^}]*\}", en):
            out.update(_fragments(part))
    return out


def test_the_phrase_list_is_what_the_english_report_says(wrong):
    phrases = english_engine_phrases()
    assert {"differs from the reference", "max abs error", "builds on it", "the earlier stages pass",
            "not implemented yet", "first difference at", "smallest failing input"} <= phrases
    en = formats.render_format(wrong, "markdown", "en", student=False)
    found = {p for p in phrases if p in en}
    # "builds on it": the pointer at a failure's cause ("fix X first (Y builds on it)")
    assert {"differs from the reference", "max abs error", "builds on it", "not implemented yet"} <= found


def test_chinese_is_complete_in_every_format(wrong):
    phrases = english_engine_phrases()
    hints = __import__("grader.cli", fromlist=["all_hints"]).all_hints()
    for student in (True, False):
        texts = {fmt: formats.render_format(wrong, fmt, "zh", student=student, hints=hints, verbose=True)
                 for fmt in formats.FORMATS}
        texts["terminal"] = _terminal(wrong, "zh", student)
        for fmt, text in texts.items():
            if fmt == "json":  # the JSON document carries both languages: read its Chinese fields
                doc = json.loads(text)
                text = json.dumps([[c["title"], c["message"], c.get("details", {}).get("error", ""),
                                    c.get("details", {}).get("input", ""), c["withheld"]]
                                   for ex in doc["exercises"] for c in ex["checks"]], ensure_ascii=False)
            elif fmt == "html":
                import html as _html

                text = _html.unescape(text)
            left = sorted(p for p in phrases if p in text)
            assert not left, (fmt, student, left, [line for line in text.splitlines() if any(p in line for p in left)][:5])


def test_every_format_handles_non_finite_outputs():
    """nan, inf and -inf in an output (cosine_no_eps, a loss over nothing) never break a format."""
    import xml.etree.ElementTree as ET

    heat = {"expected": [[0.5, 0.5], [1.0, 0.0]], "got": [[float("nan"), float("inf")], [float("-inf"), 0.2]]}
    c = CheckResult("c", "c works", "failed", 0, 2, kind="compare",
                    failure=Failure("output: non-finite values (nan/inf) where the reference has none",
                                    expected="[0.5, 0.5]", got="[nan, inf, -inf]", heatmap=heat))
    q = CheckResult("q", "quality", "failed", 0, 2, kind="quality", failure=Failure("too low"),
                    margin={"metric": "accuracy", "value": float("nan"), "needed": 0.5, "seconds": 1.0,
                            "budget": 10.0})
    result = RunResult(0, 4, "local", 0, "process", VERSIONS,
                       [ExerciseResult("attention", {"en": "A"}, 0, 4, [c, q])])
    for lang in ("en", "zh"):
        for student in (True, False):
            texts = _every_format(result, lang, student)
            for fmt, text in texts.items():
                assert "nan" in text, fmt
            json.loads(texts["json"])
            json.loads(texts["gradescope"])
            ET.fromstring(texts["junit"])
            assert "!" in texts["terminal"] and 'class="nan"' in texts["html"]


# --- reading the report ---------------------------------------------------------------------

_POINTS = re.compile(r" +\d+(?:\.\d+)?/\d+(?:\.\d+)?$", re.M)


def _squeeze(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_terminal_at_80_columns_keeps_every_character(wrong, lang):
    from rich.cells import cell_len

    text = _terminal(wrong, lang, True, 80)
    wide = [line for line in text.splitlines() if cell_len(line) > 80]
    assert not wide, wide[:3]
    assert "…" not in text  # nothing is cut
    flat = _squeeze(_POINTS.sub("", text))
    v = view.build(wrong, lang, hints=__import__("grader.cli", fromlist=["all_hints"]).all_hints())
    shown = 0
    for ex in v.exercises:
        if ex.not_started:  # an untouched stub says where to start, not what each check wants
            assert _squeeze(ex.file) in flat
            continue
        for c in ex.failing:
            for part in (c.title, c.message, c.diagnosis, c.error, c.input):
                assert _squeeze(part) in flat, (lang, ex.id, c.id, part)
            shown += 1
    assert shown >= 10


def test_chinese_title_is_not_truncated(wrong):
    """"top_k < 1" once became "top_k < …" in a narrow table column."""
    text = _squeeze(_POINTS.sub("", _terminal(wrong, "zh", True, 80)))
    assert "温度为负或top_k<1时抛出ValueError" in text


def test_failures_first_and_passes_folded(wrong):
    lines = _terminal(wrong, "en", True, 100).splitlines()
    attention = next(ex for ex in view.build(wrong).exercises if ex.id == "attention")
    start = next(i for i, line in enumerate(lines) if line.startswith("attention "))
    block = lines[start + 1:next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace())]
    marks = [line.strip()[0] for line in block if line.startswith("  ") and not line.startswith("    ")]
    assert marks[0] == "✗" and "✓" in marks
    assert marks.index("✓") > max(i for i, m in enumerate(marks) if m == "✗")  # every failure comes first
    folded = [c for c in attention.plain_passes]
    assert folded and f"{len(folded)} check(s) pass" in "\n".join(block)
    assert not any(c.title in "\n".join(block) for c in folded)
    verbose = io.StringIO()
    reports.render(wrong, reports.make_console(file=verbose, width=100), "en", {}, verbose=True)
    assert all(c.title in verbose.getvalue() for c in folded)
    assert f"{len(folded)} check(s) pass" not in verbose.getvalue()
    md = formats.markdown(wrong)
    assert f"{len(folded)} check(s) pass" in md and not any(f"{c.title}**" in md for c in folded)
    assert all(c.title.replace("_", "\\_") in formats.markdown(wrong, verbose=True) for c in folded)


def test_heatmap_is_labelled(wrong):
    c = next(c for ex in view.build(wrong, "en").exercises for c in ex.failing if c.heatmap is not None)
    assert re.match(r"output(\[\d+\])*(\[[\d, ]+\])? of shape \[[\d, ]+\]: rows = axis -2 \(\d+\), "
                    r"columns = axis -1 \(\d+\)$", c.heatmap.caption), c.heatmap.caption
    assert c.heatmap.expected != c.heatmap.got  # drawn only where it shows a difference
    zh = next(c for ex in view.build(wrong, "zh").exercises for c in ex.failing if c.heatmap is not None)
    assert "行 = 倒数第 2 维" in zh.heatmap.caption
    assert c.heatmap.caption in formats.html(wrong) and c.heatmap.caption in _terminal(wrong, "en", True, 200)


CHROMIUM = __import__("pathlib").Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed (/usr/bin/chromium)")
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_html_summary_links_resolve_in_chromium(wrong, tmp_path, lang):
    import html as _html
    import subprocess

    page = tmp_path / "report.html"
    page.write_text(formats.html(wrong, lang), encoding="utf-8")
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    nav = re.search(r'<nav class="failures">(.*?)</nav>', dom.stdout, re.S)
    assert nav, "the page opens on a summary of the failures"
    assert dom.stdout.index('<nav class="failures">') < dom.stdout.index('<section class="exercise"')
    links = re.findall(r'href="#([^"]+)"', nav.group(1))
    ids = set(re.findall(r'\bid="([^"]+)"', dom.stdout))
    v = view.build(wrong, lang)
    assert len(links) == len(v.failures) >= 10
    assert not [a for a in links if a not in ids]
    for ex, c in v.failures:  # each link names its failure, in the page's language
        assert c.anchor in links and f"{ex.id} · {c.title}" in _html.unescape(nav.group(1))
    if lang == "zh":
        assert "需要修改的地方" in dom.stdout and "differs from the reference" not in dom.stdout


def test_cli_folds_passes_unless_verbose():
    import os
    import subprocess
    import sys

    from tests.harness import ROOT, SOLUTIONS

    def run(*extra: str) -> str:
        p = subprocess.run([sys.executable, "-m", "grader.cli", "masking", "--submission", str(SOLUTIONS),
                            "--mode", "local", "--lang", "en", *extra], cwd=ROOT, capture_output=True, text=True,
                           timeout=300, env=os.environ | {"NO_COLOR": "1", "COLUMNS": "100"})
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout

    folded, verbose = run(), run("--verbose")
    assert re.search(r"✓ \d+ check\(s\) pass \(12 points\)", folded), folded
    assert "causal_mask" not in folded.split("score:")[0].split("\n", 1)[1]  # no check listed one by one
    assert "check(s) pass" not in verbose and verbose.count("✓") >= 5


def _cause_and_error_result() -> RunResult:
    """multihead's check points at attention's hidden check; masking does not import."""
    differs = msg("compare_values.path_differs_reference", path="output")
    hidden = CheckResult("hid_sdpa", "hidden sdpa", "failed", 0, 2, kind="compare", uses=["scaled_dot_product_attention"],
                         hidden=True, message=differs, failure=Failure(differs))
    attention = ExerciseResult("attention", {"en": "Attention"}, 0, 2, [hidden])
    cause = {"exercise": "attention", "function": "scaled_dot_product_attention", "check": "hid_sdpa",
             "by": "multihead", "dep": "attention.scaled_dot_product_attention"}
    dependent = CheckResult("mha_reference", "MHA vs reference", "failed", 0, 3, kind="compare", uses=["mha"],
                            message=differs, cause=cause, failure=Failure(differs, input="mha(x)"))
    multihead = ExerciseResult("multihead", {"en": "Multi-head"}, 0, 3, [dependent])
    head = msg("runner.import_error", exercise="masking", type="SyntaxError", message_="invalid \x1b[31msyntax")
    error = msg("runner.import_error_at", head=head, where="exercises/masking.py:3\n    def f((x):\n          ^")
    unimported = msg("runner.not_imported", exercise="masking")
    not_graded = [CheckResult(f"m{i}", f"masking check {i}", "error", 0, 1, kind="compare", uses=["f"],
                              message=unimported, failure=Failure(unimported)) for i in range(2)]
    masking = ExerciseResult("masking", {"en": "Masking"}, 0, 2, not_graded, error=error)
    return RunResult(0, 7, "local", 0, "process", VERSIONS, [attention, multihead, masking])


def test_the_cause_is_a_note_of_the_view_that_replaces_the_hint():
    hints = {"multihead": {"mha": [{"en": "HINT-EN reshape the heads", "zh": "HINT-ZH 提示"}]}}
    for lang, pointer in (("en", "fix attention.scaled_dot_product_attention first (multihead builds on it)"),
                          ("zh", "请先修好 attention.scaled_dot_product_attention（multihead 依赖它）")):
        v = view.build(_cause_and_error_result(), lang, hints=hints)
        c = v.exercises[1].checks[0]
        assert c.notes[-1] == pointer and not c.hint
        assert c.cause["check"] == "hidden-1"  # the student view does not name a hidden check
        for fmt, text in _every_format(_cause_and_error_result(), lang, True).items():
            assert "hid_sdpa" not in text and "HINT-" not in text, fmt
    staff = view.build(_cause_and_error_result(), "en", staff=True)
    assert staff.exercises[1].checks[0].cause["check"] == "hid_sdpa"
    doc = reports.to_json(_cause_and_error_result())
    cause = doc["exercises"][1]["checks"][0]["cause"]
    assert cause["text"].startswith("fix attention.") and cause["text_zh"].startswith("请先修好")
    plain = view.check_view(_cause_and_error_result().exercises[1],
                            CheckResult("mha_reference", "t", "failed", 0, 3, uses=["mha"], message="m",
                                        failure=Failure("m")), "en", hints["multihead"])
    assert plain.hint.startswith("HINT-EN") and not plain.cause


def test_the_import_error_is_an_exercise_view_field_shown_once_in_every_format():
    for lang, head, note in (("en", "could not import exercises/masking.py", "2 checks not graded"),
                             ("zh", "无法导入 exercises/masking.py", "2 个检查未评分")):
        ex = view.build(_cause_and_error_result(), lang).exercises[2]
        assert ex.error_lines[0].startswith(head) and "\x1b" not in ex.error  # localised, scrubbed
        assert ex.error_lines[-1].startswith(note) and ex.error_lines[-2].strip() == "^"
        for fmt, text in _every_format(_cause_and_error_result(), lang, True).items():
            if fmt in ("json", "gradescope"):
                text = json.dumps(json.loads(text), ensure_ascii=False).replace("\\n", "\n")
            assert text.count("def f((x):") == 1, (fmt, lang)
            assert "masking check 0" not in text or fmt in ("json", "gradescope", "junit"), (fmt, lang)
    junit = formats.render_format(_cause_and_error_result(), "junit")
    assert "<system-err>could not import exercises/masking.py" in junit
    gs = json.loads(formats.render_format(_cause_and_error_result(), "gradescope"))
    assert "masking: 0/2\n  could not import exercises/masking.py" in gs["output"]
    page = formats.render_format(_cause_and_error_result(), "html")
    assert 'href="#ex-masking"' in page and 'href="#ex-masking--m0"' not in page  # one link, to the error
