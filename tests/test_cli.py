"""The `grade` command: formats, modes, exit codes (run as a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.harness import ROOT, SOLUTIONS


def grade(*args: str, cwd=ROOT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def test_json_report_schema(tmp_path):
    out = tmp_path / "r.json"
    p = grade("masking", "--submission", str(SOLUTIONS), "--format", "json", "--output", str(out))
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    for key in ("score", "max_score", "mode", "seed", "sandbox", "versions", "exercises"):
        assert key in doc
    assert doc["mode"] == "official"
    assert set(doc["versions"]) >= {"grader", "torch", "python", "numpy", "hypothesis"}
    ex = doc["exercises"][0]
    assert ex["id"] == "masking" and ex["score"] == ex["max_score"]
    for c in ex["checks"]:
        assert set(c) >= {"name", "status", "score", "max_score", "message", "diagnosis"}


def test_local_mode_and_seed(tmp_path):
    out = tmp_path / "r.json"
    p = grade("masking", "--submission", str(SOLUTIONS), "--mode", "local", "--seed", "7",
              "--format", "json", "--output", str(out))
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert doc["mode"] == "local" and doc["seed"] == 7 and doc["score"] == doc["max_score"]


def test_stub_report_is_friendly():
    p = grade("attention", "--mode", "local", env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin",
                                                   "HOME": str(ROOT), "LANG": "C"})
    assert p.returncode == 0, p.stderr
    assert "not started" in p.stdout and "start here: exercises/attention.py · softmax" in p.stdout
    assert "Traceback" not in p.stdout and "\x1b[" not in p.stdout
    assert max(len(line) for line in p.stdout.splitlines()) <= 100


def test_fail_under_and_usage_errors():
    assert grade("masking", "--mode", "local", "--fail-under", "50").returncode == 1
    assert grade("no_such_exercise").returncode == 2
    assert grade("--mode", "sideways").returncode == 2
    assert grade("--submission", "/nonexistent/dir").returncode == 2


def test_help_everywhere():
    for cmd in ([], ["run"], ["hint"], ["snapshot"]):
        p = grade(*cmd, "--help")
        assert p.returncode == 0 and "Usage" in p.stdout


def test_hint_levels(tmp_path):
    """grade hint: the first failing function's next hint, state per checkout, the last level
    said, --reset, and nothing to hint when the exercise passes."""
    import shutil

    sub = tmp_path / "exercises"
    shutil.copytree(ROOT / "exercises", sub)
    shutil.copy(SOLUTIONS / "masking.py", sub / "masking.py")
    shutil.copy(SOLUTIONS / "attention.py", sub / "attention.py")
    # attention passes except SelfAttention: the hint is for SelfAttention, not softmax
    text = (sub / "attention.py").read_text()
    (sub / "attention.py").write_text(text + "\n\nclass SelfAttention(SelfAttention):\n"
                                      "    def forward(self, x, mask=None):\n        raise NotImplementedError\n")
    args = ("hint", "attention", "--submission", str(sub), "--lang", "en")
    first = grade(*args).stdout
    second = grade(*args).stdout
    assert first.startswith("SelfAttention (level 1/"), first
    assert "level 2/" in second and "last hint" in second, second
    assert (sub / ".grader" / "hints.json").is_file()
    again = grade(*args).stdout
    assert "level 2/" in again and "last hint" in again
    assert "reset" not in grade(*args, "--reset").stderr
    assert "level 1/" in grade(*args).stdout
    other = tmp_path / "other"
    shutil.copytree(sub, other, ignore=shutil.ignore_patterns(".grader"))
    assert "level 1/" in grade("hint", "attention", "--submission", str(other), "--lang", "en").stdout
    done = grade("hint", "masking", "--submission", str(sub), "--lang", "en").stdout
    assert "already passes" in done, done
    assert "级" in grade("hint", "attention", "--submission", str(other), "--lang", "zh").stdout

