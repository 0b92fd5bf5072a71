"""Hostile submissions and faults (issue: hardening). Each gains nothing, stays confined, and
the rest of the submission is still graded. Cases that only the bubblewrap sandbox can stop
(reading the reference from disk, killing the grader) are skipped, with the reason, without it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from grader.host.sandbox import bwrap_works
from tests.harness import ROOT, SOLUTIONS, grade, statuses, submission_from_reference

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap sandbox not available here")


def graded_rest(result) -> bool:
    """masking (untouched reference) still gets full marks."""
    m = [e for e in result.exercises if e.id == "masking"]
    return bool(m) and m[0].score == m[0].max_score


def run_hostile(zygote, tmp_path, code: str, *, replace: bool = False, mode="official", timeout=3):
    kw = {"replace": {"attention": code}} if replace else {"overrides": {"attention": code}}
    sub = submission_from_reference(tmp_path, **kw)
    return grade(zygote, sub, ["attention", "masking"], mode, call_timeout=timeout)


FIND_REFERENCE = r'''
import os, sys, importlib.util
def _find():
    seen = set()
    starts = [os.getcwd(), os.path.dirname(os.path.abspath(__file__)), "/work", "/"]
    try:
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    starts += open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="ignore").split("\0")
                except OSError:
                    pass
    except OSError:
        pass
    for start in starts:
        d = start if os.path.isdir(start) else os.path.dirname(start)
        while d and d not in seen:
            seen.add(d)
            cand = os.path.join(d, "solutions", "attention.py")
            if os.path.isfile(cand):
                return cand
            d = os.path.dirname(d) if d != "/" else None
    return None
def softmax(x, dim=-1):
    path = _find()
    if path is None:
        raise RuntimeError("reference not found")
    spec = importlib.util.spec_from_file_location("stolen", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.softmax(x, dim)
'''


@needs_bwrap
def test_reference_cannot_be_found_on_disk(zygote, tmp_path):
    result = run_hostile(zygote, tmp_path, FIND_REFERENCE)
    st = statuses(result)
    assert st["attention.softmax_reference"] != "passed", result.exercises[0].checks[0].message
    assert "reference not found" in result.exercises[0].checks[0].message
    assert graded_rest(result)


@needs_bwrap
def test_files_outside_cannot_be_written(zygote, tmp_path):
    target_dir = tmp_path / "precious"
    target_dir.mkdir()
    (target_dir / "keep.txt").write_text("keep")
    code = f'''
import os, shutil
def softmax(x, dim=-1):
    hits = []
    for p in [{str(SOLUTIONS / "attention.py")!r}, {str(ROOT / "grader" / "protocol" / "wire.py")!r},
              {str(target_dir / "keep.txt")!r}, os.path.abspath(__file__)]:
        try:
            with open(p, "w") as f:
                f.write("pwned")
            hits.append(p)
        except OSError:
            pass
        try:
            os.remove(p)
            hits.append(p)
        except OSError:
            pass
    if hits:
        raise RuntimeError("wrote " + ", ".join(hits))
    raise RuntimeError("nothing written")
'''
    before = {p: p.read_bytes() for p in (SOLUTIONS / "attention.py", ROOT / "grader" / "protocol" / "wire.py")}
    result = run_hostile(zygote, tmp_path, code)
    msg = result.exercises[0].checks[0].message
    assert "nothing written" in msg, msg
    assert (target_dir / "keep.txt").read_text() == "keep"
    for p, data in before.items():
        assert p.read_bytes() == data


def test_original_submission_is_not_modified(zygote, tmp_path):
    code = '''
import os, glob
def softmax(x, dim=-1):
    for f in glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "*.py")):
        try:
            open(f, "a").write("\\n# tampered\\n")
        except OSError:
            pass
    raise RuntimeError("done")
'''
    sub = submission_from_reference(tmp_path, {"attention": code})
    before = {f.name: f.read_bytes() for f in sub.glob("*.py")}
    grade(zygote, sub, ["attention"], "official", call_timeout=3)
    assert {f.name: f.read_bytes() for f in sub.glob("*.py")} == before


def test_snapshot_replay_gains_nothing_in_official_mode(zygote, tmp_path):
    """A submission that carries the recorded fixed-input outputs still meets fresh inputs."""
    from grader.protocol import wire

    snap = wire.decode((ROOT / "grader" / "course" / "snapshots" / "attention.snap").read_bytes())
    table = []
    for entry in snap["softmax_reference"]:
        x = entry["case"]["args"][0]
        x = x["$noncontig"] if isinstance(x, dict) else x
        table.append((x.data.tolist(), entry["expected"].data.tolist()))
    code = f'''
import torch
_TABLE = {json.dumps(table)}
def softmax(x, dim=-1):
    for inp, out in _TABLE:
        t = torch.tensor(inp, dtype=x.dtype)
        if t.shape == x.shape and torch.equal(t, x):
            return torch.tensor(out, dtype=x.dtype)
    return x
'''
    sub = submission_from_reference(tmp_path, {"attention": code})
    local = grade(zygote, sub, ["attention"], "local")
    official = grade(zygote, sub, ["attention"], "official")
    # the snapshot records gradients too, and a replayed output has none: not even local mode passes
    assert statuses(local)["attention.softmax_reference"] != "passed"
    assert statuses(official)["attention.softmax_reference"] == "failed"  # fresh inputs expose it
    assert statuses(official)["attention.softmax_properties"] == "failed"


def test_killing_the_parent_is_confined(zygote, tmp_path):
    code = '''
import os, signal
def softmax(x, dim=-1):
    os.kill(os.getppid(), signal.SIGKILL)
    os.killpg(os.getpgid(0), signal.SIGKILL)
'''
    result = run_hostile(zygote, tmp_path, code)
    st = statuses(result)
    assert st["attention.softmax_reference"] in ("crashed", "error")
    assert st["attention.self_attention_structure"] == "passed"
    assert graded_rest(result)


@needs_bwrap
def test_the_grader_cannot_be_killed(tmp_path):
    code = '''
import os, signal
def softmax(x, dim=-1):
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    raise RuntimeError("still here")
'''
    sub = submission_from_reference(tmp_path, {"attention": code})
    out = tmp_path / "r.json"
    p = subprocess.run([sys.executable, "-m", "grader.cli", "attention", "masking", "--submission", str(sub),
                        "--format", "json", "--output", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert doc["sandbox"] == "bwrap"
    assert doc["exercises"][1]["score"] == doc["exercises"][1]["max_score"]


def test_daemon_cannot_rewrite_the_report(tmp_path):
    report = tmp_path / "report.json"
    code = f'''
import os, time
def softmax(x, dim=-1):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(2)
            try:
                open({str(report)!r}, "w").write('{{"score": 1e9}}')
            except OSError:
                pass
            os._exit(0)
        os._exit(0)
    raise RuntimeError("spawned")
'''
    sub = submission_from_reference(tmp_path, {"attention": code})
    p = subprocess.run([sys.executable, "-m", "grader.cli", "attention", "--submission", str(sub),
                        "--format", "json", "--output", str(report)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    first = report.read_text()
    time.sleep(4)
    assert report.read_text() == first
    assert json.loads(first)["score"] < 1e9


FAULTS = {
    "allocating several GiB": ("import torch\ndef softmax(x, dim=-1):\n    big = torch.ones(3 * 2**30, dtype=torch.uint8)\n"
                               "    return big\n", ("crashed", "error")),
    "dozens of processes in new sessions": (
        "import os, time\ndef softmax(x, dim=-1):\n    for _ in range(40):\n        try:\n"
        "            if os.fork() == 0:\n                os.setsid()\n                time.sleep(600)\n"
        "                os._exit(0)\n        except OSError:\n            break\n    time.sleep(600)\n",
        ("timeout",)),
    "100 MiB of output": ("import sys\ndef softmax(x, dim=-1):\n    for _ in range(100):\n"
                          "        sys.stdout.write('x' * (1 << 20))\n    return x\n", ("failed", "error")),
    "reading stdin": ("import sys\ndef softmax(x, dim=-1):\n    data = sys.stdin.read()\n    return x\n",
                      ("failed",)),
    "changing process-wide state": (
        "import os, torch\ntorch.set_default_dtype(torch.float64)\nos.chdir('/')\nos.environ['X'] = '1'\n"
        "torch.matmul = lambda *a, **k: None\ndef softmax(x, dim=-1):\n    return x\n", ("failed",)),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_faults_are_confined(zygote, tmp_path, name):
    code, allowed = FAULTS[name]
    t0 = time.monotonic()
    result = run_hostile(zygote, tmp_path, code)
    st = statuses(result)
    assert st["attention.softmax_reference"] in allowed, (name, st, result.exercises[0].checks[0].message)
    assert graded_rest(result), st
    assert not result.grader_errors
    assert time.monotonic() - t0 < 240


def test_process_wide_state_does_not_leak_into_other_exercises(zygote, tmp_path):
    code = ("import torch\ntorch.set_default_dtype(torch.float64)\n"
            "torch.Tensor.__and__ = lambda a, b: a\ntorch.arange = None\n")
    sub = submission_from_reference(tmp_path, {"attention": code})
    result = grade(zygote, sub, ["attention", "masking"], "official")
    assert graded_rest(result)


def test_same_outcomes_across_runs_and_jobs(tmp_path):
    """Identical check outcomes: twice in a row, and in a batch with one and with two jobs."""
    from grader.batch import run_batch

    subs = []
    for i, mistake in enumerate(sorted((ROOT / "mistakes" / "attention").glob("*.py"))[:3]):
        d = submission_from_reference(tmp_path / f"s{i}", {"attention": mistake.read_text()})
        subs.append(d)
    rows = {}
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        run_batch(subs, out, jobs=jobs, mode="official", reference=SOLUTIONS, seed=None,
                  exercises=["attention"], formats=["json"], lang="en")
        rows[jobs] = {d.name: json.loads((d / "report.json").read_text()) for d in out.iterdir() if d.is_dir()}
    def outcomes(doc):
        return [(c["name"], c["status"], c["message"]) for e in doc["exercises"] for c in e["checks"]]
    assert rows[1].keys() == rows[2].keys()
    for name in rows[1]:
        assert outcomes(rows[1][name]) == outcomes(rows[2][name])
        assert rows[1][name]["seed"] == rows[2][name]["seed"]


def test_grader_bug_is_a_grader_error(tmp_path, monkeypatch):
    """A bug on the trusted side: distinct exit code and message, never the student's fault."""
    env = os.environ | {"GRADER_TEST_INJECT_BUG": "attention.softmax_properties"}
    out = tmp_path / "r.json"
    p = subprocess.run([sys.executable, "-m", "grader.cli", "attention", "--submission", str(SOLUTIONS),
                        "--format", "json", "--output", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=env)
    assert p.returncode == 3
    doc = json.loads(out.read_text())
    assert doc["grader_errors"]
    check = [c for c in doc["exercises"][0]["checks"] if c["name"] == "softmax_properties"][0]
    assert check["status"] == "skipped" and "grader error" in check["message"]
