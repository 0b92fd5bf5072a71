"""Student input is never a grader error: a malformed reply from the worker, a zip with a bad
CRC, a submission over the size cap, a lone surrogate in an exception message, a file that is
not UTF-8. Each is a failed check or a rejected submission with a clear message, in a report
that is always written; exit 3 and "grader error" are kept for the grader's own bugs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grader import batch
from grader.checks import CheckFailed, Ctx, Handle, params_rows
from grader.host.pool import GraderError, WorkerLost
from grader.host.sandbox import choose
from grader.host.staging import MAX_SUBMISSION_BYTES
from grader.metadata import load_exercises
from grader.protocol.wire import Array
from grader.runner import CheckResult, Runner
from grader.snapshots import load
from tests.harness import ROOT, SOLUTIONS, exercises, grade, statuses, submission_from_reference

GARBAGE = [None, 1, -1, 2.5, "x", True, [], {}, [1, 2], [[1, 2]], [["a", [1], True, 1, 5]], {"a": 1},
           {"result": 1, "args": 3, "kwargs": 4}, {"result": None, "args": [], "kwargs": []}, {"type": 1},
           (1,), Array(np.zeros((2, 3))), Array(np.zeros((2,), dtype=np.int64)), Array(np.zeros((0,))),
           {"out": 1, "inputs": 2, "params": 3}, {"$unsendable": "x"}, [None], {"missing": 1, "unexpected": 2},
           [["w", [-1], True, 3]], [["w", [2], 1, 3]], [[1, [2], True, 3]], {"weight": "x"}]


class LyingWorker:
    """A worker whose student code broke the protocol: every reply is plain data of the wrong shape."""

    dead = None
    limits: dict = {}

    def __init__(self, k: int, stride: int) -> None:
        self.k, self.stride, self.n = k, stride, 0
        self.zygote = LyingZygote(k, stride)

    def close(self) -> None:
        pass

    def request(self, req: dict, timeout: float):
        self.n += 1
        if self.n > 300:
            raise WorkerLost("timeout", "enough")
        return GARBAGE[(self.k * (1 + self.n % 3) + self.n * self.stride) % len(GARBAGE)]


class LyingZygote:
    """Its oracle workers (``ctx.oracle``) lie the same way."""

    def __init__(self, k: int, stride: int) -> None:
        self.k, self.stride = k, stride

    def spawn(self, files: dict, limits: dict) -> LyingWorker:
        return LyingWorker(self.k + 1, self.stride)


def test_malformed_params_reply_fails_the_check():
    for rows in ([[1, 2]], [["w", [2, 3], True]], [["w", "23", True, 1]], 7, [["w", [2], "yes", 1]]):
        with pytest.raises(CheckFailed, match="malformed reply"):
            params_rows(rows)
    assert params_rows([["w", [2, 3], True, 9]]) == [("w", (2, 3), True, 9)]
    ctx = Ctx("attention", "self_attention_structure", LyingWorker(9, 0), None, 0, 1, {})
    with pytest.raises(CheckFailed, match="malformed reply to SelfAttention.named_parameters"):
        Handle(ctx, "h", "SelfAttention").params()


@pytest.mark.parametrize("stride", [1, 3, 7])
def test_garbage_replies_never_make_a_grader_error(stride):
    """Every check of every exercise, fed replies of the wrong shape, fails (or errors) as the
    student's fault: no check code trips over them."""
    runner = Runner.__new__(Runner)
    runner.mode, runner.reference, runner.mistakes, runner.grader_errors = "local", None, None, []
    for ex in load_exercises():
        snapshot = load(ex.id)
        for check in ex.checks():
            for k in range(len(GARBAGE)):
                ctx = Ctx(ex.id, check.id, LyingWorker(k, stride), None, 0, 1.0, ex.banned, 3, "local")
                ctx.submission, ctx.banned_seen = SOLUTIONS, []
                res = CheckResult(check.id, check.title, "failed", 0.0, 1.0)
                runner._run_check(ex, check, ctx, res, snapshot, [])
                assert not runner.grader_errors, (ex.id, check.id, k, runner.grader_errors[-1][:1500])
                assert res.status != "passed" or check.kind == "banned", (ex.id, check.id, k)


def _grade_cli(sub: Path, *extra: str, exercise: str = "attention") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRADER_NO_FAST_EXIT="")
    return subprocess.run([sys.executable, "-m", "grader.cli", exercise, "--submission", str(sub),
                           "--reference", str(SOLUTIONS), *extra], cwd=ROOT, capture_output=True,
                          timeout=600, env=env)


def test_oversized_submission_is_rejected_with_a_report(tmp_path):
    sub = submission_from_reference(tmp_path)
    with open(sub / "big_helper.py", "wb") as f:  # sparse: the size counts, not the disk
        f.truncate(MAX_SUBMISSION_BYTES + 1)
    out = tmp_path / "report.json"
    p = _grade_cli(sub, "--format", "json", "--output", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["score"] == 0 and doc["max_score"] > 0 and "MiB" in doc["rejected"]
    assert not doc["grader_errors"]
    assert all(c["status"] == "failed" and "rejected" in c["message"] for c in doc["exercises"][0]["checks"])
    p = _grade_cli(sub)  # the terminal report says so too
    assert p.returncode == 0 and b"submission rejected" in p.stdout and b"grader error" not in p.stdout


def test_lone_surrogate_in_an_exception_message(tmp_path):
    sub = submission_from_reference(tmp_path, {"attention": 'def softmax(x, dim=-1):\n'
                                                            '    raise ValueError("bad \\ud800 \\udfff thing")\n'})
    p = _grade_cli(sub)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "bad \ufffd \ufffd thing" in p.stdout.decode("utf-8")
    out = tmp_path / "out"
    p = _grade_cli(sub, "--format", "json", "--format", "junit", "--format", "html", "--format", "markdown",
                   "--format", "gradescope", "--format", "rich", "--output-dir", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    softmax = next(c for c in doc["exercises"][0]["checks"] if c["name"] == "softmax_reference")
    assert softmax["status"] == "error" and "\ufffd" in softmax["message"]
    assert len(list(out.iterdir())) == 6


def test_files_that_are_not_utf8(zygote, tmp_path):
    # a module in latin-1 with its coding line is valid Python: full marks, banned_apis included
    text = (SOLUTIONS / "attention.py").read_text(encoding="utf-8")
    latin = "# -*- coding: latin-1 -*-\n" + text.replace("—", "-").replace("·", ".") + '\nCAFE = "café"\n'
    latin = "".join(ch if ord(ch) < 256 else "?" for ch in latin)
    sub = submission_from_reference(tmp_path / "a")
    (sub / "attention.py").write_bytes(latin.encode("latin-1"))
    result = grade(zygote, sub, ["attention"])
    assert result.score == result.max_score, statuses(result)
    # a UTF-8 file with a byte-order mark (what some editors write) is valid Python too
    sub = submission_from_reference(tmp_path / "b")
    (sub / "attention.py").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = grade(zygote, sub, ["attention"])
    assert result.score == result.max_score, statuses(result)
    # invalid bytes: the import fails, as the student's error, and a file with a name that
    # is not UTF-8 beside it changes nothing
    sub = submission_from_reference(tmp_path / "c")
    (sub / "attention.py").write_bytes(text.encode("utf-8") + b'\nx = "caf\xe9"\n')
    (Path(os.fsdecode(bytes(sub) + b"/caf\xe9.py"))).write_bytes(b"y = 1\n")
    result = grade(zygote, sub, ["attention", "masking"])
    st = statuses(result)
    assert st["attention.softmax_reference"] == "error" and not result.grader_errors
    assert all(v == "passed" for k, v in st.items() if k.startswith("masking."))
    from grader.formats import FORMATS, render_format

    for fmt in FORMATS:
        render_format(result, fmt).encode("utf-8")


def _bad_crc_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in SOLUTIONS.glob("*.py"):
            zf.write(f, f"exercises/{f.name}")
    data = bytearray(path.read_bytes())
    at = data.index(b"def ") + 2  # inside the first file's stored bytes
    data[at] ^= 0x20
    path.write_bytes(bytes(data))
    return path


def test_zip_with_a_bad_crc_is_a_rejected_submission_with_a_report(tmp_path):
    bad = _bad_crc_zip(tmp_path / "bad.zip")
    with pytest.raises(batch.BadSubmission, match="cannot unpack"):
        batch.unpack(bad, tmp_path / "unpacked")
    job = batch.Job("bad", str(bad), "local", None, None, ["masking"], ["json", "gradescope"],
                    str(tmp_path / "out" / "bad"), "en", False)
    row = batch._grade_one(job)
    assert row["status"] == "bad submission" and "CRC" in row["error"]
    doc = json.loads((tmp_path / "out" / "bad" / "report.json").read_text(encoding="utf-8"))
    assert doc["score"] == 0 and "CRC" in doc["rejected"] and doc["max_score"] > 0
    gs = json.loads((tmp_path / "out" / "bad" / "results.json").read_text(encoding="utf-8"))
    assert gs["score"] == 0 and all(t["status"] == "failed" for t in gs["tests"])


def test_oversized_and_odd_zips_in_a_batch(tmp_path):
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("exercises/masking.py", "x = 1\n")
        with zf.open("exercises/blob.py", "w", force_zip64=True) as f:
            chunk = b"#" * (1 << 20)
            for _ in range((batch.MAX_ZIP_BYTES >> 20) + 1):
                f.write(chunk)
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.zip"))  # a name that is not UTF-8
    _bad_crc_zip(odd)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "grader.cli", "batch", str(big), str(odd), "--jobs", "1",
                        "--exercise", "masking", "--mode", "local", "--output-dir", str(out)],
                       cwd=ROOT, capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in rows] == ["bad submission", "bad submission"], rows
    assert "too large" in rows[0]["error"]
    for r in rows:
        assert (out / r["name"] / "report.json").is_file()


def test_a_worker_that_cannot_start_is_a_grader_error_with_a_report(tmp_path):
    class Broken:
        sandbox = choose()

        def spawn(self, submission, limits):
            raise GraderError("the worker factory keeps dying")

        def close(self):
            pass

    runner = Runner(SOLUTIONS, exercises(["masking"]), mode="local", reference=None, seed=0,
                    sandbox=Broken.sandbox, zygote=Broken())
    result = runner.run()
    assert result.grader_errors and result.score == 0
    assert all(c.status == "skipped" for c in result.exercises[0].checks)
