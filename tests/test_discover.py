"""Where a submission's modules are (one rule for `grade --submission` and `grade batch`), the
report when there are none, and a report even when the grader cannot grade."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.discover import find_modules
from tests.envs import path_without
from tests.harness import ROOT, SOLUTIONS

NAMES = ["attention", "masking", "positional"]


def layout(base: Path, kind: str) -> Path:
    """A submission holding the masking reference, in one of the shapes students hand in."""
    sub = base / kind
    where = {"flat": sub, "exercises": sub / "exercises", "repo": sub / "my-course" / "exercises",
             "repo-flat": sub / "my-course"}[kind]
    where.mkdir(parents=True)
    shutil.copy(SOLUTIONS / "masking.py", where / "masking.py")
    (sub / "README.md").write_text("my work\n")
    return sub


@pytest.mark.parametrize("kind", ["flat", "exercises", "repo", "repo-flat"])
def test_find_modules_in_each_layout(tmp_path, kind):
    sub = layout(tmp_path, kind)
    if kind.startswith("repo"):
        (sub / "__MACOSX").mkdir()  # a Mac zip's extra folder, and hidden ones, are not "a folder"
        (sub / ".git").mkdir()
    found = find_modules(sub, NAMES)
    assert found.folder is not None and (found.folder / "masking.py").is_file(), found
    assert found.problem() == ""


def test_the_place_with_most_modules_wins(tmp_path):
    (tmp_path / "exercises").mkdir()
    for n in NAMES:
        (tmp_path / "exercises" / f"{n}.py").write_text("")
    (tmp_path / "masking.py").write_text("")  # a stray copy at the top
    assert find_modules(tmp_path, NAMES).folder == tmp_path / "exercises"


def test_nothing_found_says_what_it_saw(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()  # two folders: neither is "the only folder"
    (tmp_path / "b" / "masking.py").write_text("")
    (tmp_path / "notes.txt").write_text("")
    found = find_modules(tmp_path, NAMES)
    assert found.folder is None
    text = found.problem()
    assert text.startswith("No exercise module was found in the submission")
    assert "attention.py" in text and "the top of the submission" in text and "exercises" not in text.split("\n")[1]
    assert "notes.txt" in text and "b/ (masking.py)" in text and "a/ (empty)" in text
    assert find_modules(tmp_path / "a", NAMES).problem().splitlines()[2] == "The submission is empty."


def grade(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("kind", ["exercises", "repo"])
def test_grade_submission_nested(tmp_path, kind):
    sub = layout(tmp_path, kind)
    p = grade("masking", "--mode", "local", "--submission", str(sub), "--format", "gradescope",
              "--output", str(tmp_path / "results.json"), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) > 0


def test_grade_submission_without_modules_reports_it(tmp_path):
    sub = tmp_path / "sub"
    (sub / "homework").mkdir(parents=True)
    (sub / "homework" / "attention_answers.txt").write_text("")
    out = tmp_path / "out"
    p = grade("masking", "--mode", "local", "--submission", str(sub), "--format", "gradescope", "--format", "json",
              "--format", "markdown", "--output-dir", str(out), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((out / "results.json").read_text())
    assert doc["score"] == 0 and len(doc["tests"]) == 1, doc["tests"]
    (test,) = doc["tests"]
    assert test["status"] == "failed" and test["max_score"] == 12
    assert "No exercise module was found" in test["output"] and "homework/ (attention_answers.txt)" in test["output"]
    assert "could not import" not in json.dumps(doc)
    assert json.loads((out / "report.json").read_text())["problem"].startswith("No exercise module")
    assert "No exercise module was found" in (out / "summary.md").read_text()
    zh = grade("masking", "--mode", "local", "--submission", str(sub), "--lang", "zh", cwd=tmp_path)
    assert "提交中没有找到任何练习模块" in zh.stdout and "homework/ (attention_answers.txt)" in zh.stdout, zh.stdout


def test_batch_uses_the_same_rule(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    nested = layout(tmp_path / "src", "repo")
    with zipfile.ZipFile(subs / "zipped.zip", "w") as zf:  # a zip of the repository's folder
        for f in nested.rglob("*"):
            zf.write(f, f.relative_to(nested))
    shutil.copytree(layout(tmp_path / "src2", "exercises"), subs / "folder")
    (subs / "empty").mkdir()
    (subs / "empty" / "hello.txt").write_text("")
    p = grade("batch", str(subs / "zipped.zip"), str(subs / "folder"), str(subs / "empty"), "--exercise", "masking",
              "--mode", "local", "--jobs", "1", "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = {r["name"]: r for r in json.loads((tmp_path / "out" / "grades.json").read_text())}
    assert rows["zipped"]["status"] == "graded" and rows["zipped"]["score"] == 12, rows["zipped"]
    assert rows["folder"]["status"] == "graded" and rows["folder"]["score"] == 12, rows["folder"]
    assert rows["empty"]["status"] == "no modules found" and rows["empty"]["score"] == 0
    assert "No exercise module" in rows["empty"]["error"]


# --- a report even when the grader cannot grade --------------------------------------------------


def check_error_results(path: Path, needle: str) -> dict:
    doc = json.loads(path.read_text())
    assert doc["score"] == 0
    assert "grader error" in doc["output"] and needle in doc["output"], doc["output"]
    assert doc["visibility"] == "visible"
    assert any(t["status"] == "failed" and needle in t["output"] for t in doc["tests"])
    return doc


def test_refused_sandbox_still_writes_results(tmp_path):
    sub = layout(tmp_path, "exercises")
    env = {"PATH": path_without("bwrap", tmp_path, [Path(sys.executable).parent])}
    p = grade("masking", "--submission", str(sub), "--reference", str(SOLUTIONS), "--require-sandbox",
              "--format", "gradescope", "--output", str(tmp_path / "results.json"), cwd=tmp_path, env=env)
    if p.returncode == 0:
        pytest.skip("a strong sandbox other than bubblewrap runs here (the uid level): nothing to refuse")
    assert p.returncode == 3, p.stdout + p.stderr
    check_error_results(tmp_path / "results.json", "refused to grade")


def test_grader_bug_still_writes_results(tmp_path):
    sub = layout(tmp_path, "flat")
    out = tmp_path / "out"
    p = grade("masking", "--mode", "local", "--submission", str(sub), "--format", "gradescope", "--format", "junit",
              "--output-dir", str(out), cwd=tmp_path, env={"GRADER_TEST_INJECT_BUG": "cli"})
    assert p.returncode == 3, p.stdout + p.stderr
    assert "Traceback" in p.stderr  # for the staff, in Gradescope's captured output
    check_error_results(out / "results.json", "RuntimeError: injected grader bug")
    assert 'errors="1"' in (out / "junit.xml").read_text()


def test_usage_error_still_writes_results(tmp_path):
    p = grade("masking", "--submission", str(tmp_path / "missing"), "--format", "gradescope",
              "--output", str(tmp_path / "results.json"), cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    check_error_results(tmp_path / "results.json", "not a folder")
