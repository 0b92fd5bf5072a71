"""Watch mode: a saved file is re-graded with the warm zygote; Ctrl-C exits cleanly."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from grader.host.sandbox import choose
from grader.reports import make_console
from grader.watch import watch_loop
from tests.harness import EXERCISES, ROOT, SOLUTIONS, exercises


def test_saving_a_file_regrades_it(tmp_path):
    sub = tmp_path / "exercises"
    shutil.copytree(EXERCISES, sub)
    buf = io.StringIO()
    console = make_console(file=buf, width=100)
    t = threading.Thread(target=watch_loop, kwargs=dict(
        submission=sub, exercises=exercises(["masking"]), mode="local", reference=None, seed=0,
        sandbox=choose(), console=console, lang="en", hints={}, max_rounds=1))
    t.start()
    deadline = time.time() + 120
    while "watching" not in buf.getvalue() and time.time() < deadline:
        time.sleep(0.2)
    assert "masking  0/12" in buf.getvalue()
    time.sleep(0.5)
    shutil.copy(SOLUTIONS / "masking.py", sub / "masking.py")
    t.join(timeout=120)
    out = buf.getvalue()
    assert not t.is_alive()
    assert "masking  12/12" in out
    assert "all exercises pass" in out


def test_ctrl_c_exits_cleanly(tmp_path):
    env = os.environ | {"NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "grader.cli", "masking", "--mode", "local", "--watch"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = p.stdout.readline()
        lines.append(line)
        if "watching" in line:
            break
    p.send_signal(signal.SIGINT)
    rest, _ = p.communicate(timeout=60)
    assert p.returncode == 0, "".join(lines) + rest
    assert "stopped" in rest
    assert "Traceback" not in rest


def test_dependents_and_summary_lines():
    """Saving attention re-grades what builds on it; the summary never says all pass while one
    fails, and says what was graded."""
    from types import SimpleNamespace

    from grader.watch import dependents, graded_line, next_failing
    from tests.harness import exercises

    exs = exercises()
    att = [e for e in exs if e.id == "attention"]
    ids = [e.id for e in dependents(att, exs)]
    assert ids[0] == "attention" and "multihead" in ids and "blocks" in ids and "models" in ids
    assert "embedding" not in ids and "masking" not in ids

    ok = SimpleNamespace(id="attention", score=20.0, max_score=20.0, checks=[])
    bad_check = SimpleNamespace(id="x", status="failed", title="x works", title_zh="", message="wrong",
                                failure=None, hidden=False, kind="compare", uses=["x"])
    bad = SimpleNamespace(id="masking", score=0.0, max_score=12.0, checks=[bad_check])
    assert "all exercises pass" not in next_failing([ok, bad], "en")
    bad_check.cause = None
    assert next_failing([ok, bad], "en").endswith("— wrong")
    # a check failing through what it builds on points there, as the report does
    bad_check.cause = {"exercise": "attention", "function": "softmax", "dep": "attention.softmax", "by": "x"}
    line = next_failing([ok, bad], "en")
    assert "fix attention.softmax first" in line and "wrong" not in line, line
    assert "attention.softmax" in next_failing([ok, bad], "zh")
    assert graded_line([ok], 13, "en") == "attention passes; 12 other exercises not graded"
