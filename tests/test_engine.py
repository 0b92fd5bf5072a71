"""The engine under bad input: broken, hostile and differently-written submissions."""

from __future__ import annotations

import os
import time

import pytest

from tests.harness import SOLUTIONS, grade, statuses, submission_from_reference

SDPA_OK = '''
import math
import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    probs = softmax(scores.double(), dim=-1).to(q.dtype)
    return torch.einsum("...qk,...kd->...qd", probs, v), probs
'''


def test_reference_written_differently_gets_full_marks(zygote, tmp_path):
    """einsum, masked_fill with a large negative number, float64 inside: all correct."""
    sub = submission_from_reference(tmp_path, {"attention": SDPA_OK})
    result = grade(zygote, sub, ["attention"])
    assert result.score == result.max_score, statuses(result)


def _attention_with(body: str) -> str:
    return body


@pytest.mark.parametrize("name,code,status", [
    ("infinite loop in a call",
     "def softmax(x, dim=-1):\n    while True:\n        pass\n", "timeout"),
    ("sleep in a call",
     "import time\ndef softmax(x, dim=-1):\n    time.sleep(3600)\n", "timeout"),
    ("segfault",
     "import ctypes\ndef softmax(x, dim=-1):\n    ctypes.string_at(0)\n", "crashed"),
    ("sys.exit in a call",
     "import sys\ndef softmax(x, dim=-1):\n    sys.exit(0)\n", "error"),
    ("os._exit in a call",
     "import os\ndef softmax(x, dim=-1):\n    os._exit(0)\n", "crashed"),
    ("wrong return type (list)",
     "def softmax(x, dim=-1):\n    return x.tolist()\n", "failed"),
    ("wrong return type (numpy)",
     "def softmax(x, dim=-1):\n    return x.numpy()\n", "failed"),
    ("wrong return type (string)",
     "def softmax(x, dim=-1):\n    return 'softmax'\n", "failed"),
    ("wrong return type (None)",
     "def softmax(x, dim=-1):\n    return None\n", "failed"),
    ("wrong return type (nested)",
     "def softmax(x, dim=-1):\n    return [[x, {'a': (x,)}]]\n", "failed"),
])
def test_broken_function_is_confined(zygote, tmp_path, name, code, status):
    sub = submission_from_reference(tmp_path, {"attention": code})
    t0 = time.monotonic()
    result = grade(zygote, sub, ["attention", "masking"], call_timeout=3)
    st = statuses(result)
    assert st["attention.softmax_reference"] == status, (name, result.exercises[0].checks[0].message)
    # everything else still graded: masking untouched, SelfAttention's own checks still run
    assert all(v == "passed" for k, v in st.items() if k.startswith("masking.")), st
    assert st["attention.self_attention_structure"] == "passed"
    assert not result.grader_errors
    assert time.monotonic() - t0 < 120


@pytest.mark.parametrize("name,code,status", [
    ("syntax error", "def softmax(x:\n", "error"),
    ("sys.exit at import", "import sys\nsys.exit(0)\n", "error"),
    ("os._exit at import", "import os\nos._exit(0)\n", "crashed"),
    ("infinite loop at import", "while True:\n    pass\n", "timeout"),
    ("exception at import", "raise RuntimeError('boom')\n", "error"),
])
def test_broken_import_is_confined(zygote, tmp_path, name, code, status):
    sub = submission_from_reference(tmp_path, replace={"attention": code})
    result = grade(zygote, sub, ["attention", "masking"], call_timeout=3)
    st = statuses(result)
    att = [v for k, v in st.items() if k.startswith("attention.") and not k.endswith("banned_apis")]
    assert set(att) == {status}, (name, st)
    assert result.exercises[0].score == 0
    assert result.exercises[1].score == result.exercises[1].max_score
    assert not result.grader_errors


def test_missing_function_is_reported(zygote, tmp_path):
    text = (SOLUTIONS / "attention.py").read_text().replace("def cosine_attention(", "def cosine_attn(")
    sub = submission_from_reference(tmp_path, replace={"attention": text})
    result = grade(zygote, sub, ["attention"])
    checks = {c.id: c for c in result.exercises[0].checks}
    assert checks["cosine_attention_reference"].status == "error"
    assert "cosine_attention" in checks["cosine_attention_reference"].message
    assert checks["softmax_reference"].status == "passed"


CHEATS = {
    "monkeypatched allclose": '''
import numpy, torch
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
def softmax(x, dim=-1):
    return x
''',
    "reading the caller's frames": '''
import sys, gc, inspect
def softmax(x, dim=-1):
    found = None
    for frame in inspect.stack():
        for name, value in frame.frame.f_locals.items():
            if name in ("want", "expected") and hasattr(value, "shape"):
                found = value
    for obj in gc.get_objects():
        if type(obj).__name__ == "Array" and getattr(obj, "kind", "") == "tensor":
            found = found
    return found if found is not None else x
''',
    "lying tensor subclass": '''
import torch
class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True
    def __eq__(self, other):
        return True
def softmax(x, dim=-1):
    return x.as_subclass(Liar)
''',
    "object equal to everything": '''
class Eq:
    def __eq__(self, other):
        return True
    shape = property(lambda self: (2, 3))
def softmax(x, dim=-1):
    return Eq()
''',
}


@pytest.mark.parametrize("name", list(CHEATS))
def test_cheats_gain_nothing(zygote, tmp_path, name):
    sub = submission_from_reference(tmp_path, {"attention": CHEATS[name]})
    result = grade(zygote, sub, ["attention"])
    st = statuses(result)
    assert st["attention.softmax_reference"] != "passed"
    assert st["attention.softmax_properties"] != "passed"
    assert not result.grader_errors


def test_no_process_survives(zygote, tmp_path):
    code = '''
import os, subprocess, sys, time
def softmax(x, dim=-1):
    for _ in range(3):
        if os.fork() == 0:
            os.setsid()
            try:
                if os.fork() == 0:
                    open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "daemon-%d" % os.getpid()), "w").close()
                    time.sleep(600)
            finally:
                os._exit(0)
    time.sleep(600)
'''
    sub = submission_from_reference(tmp_path, {"attention": code})
    from grader.host.sandbox import choose
    from grader.runner import Runner
    from grader.worker.procs import descendants
    from tests.harness import exercises

    runner = Runner(sub, exercises(["attention"]), mode="local", reference=None, seed=0, sandbox=choose(),
                    call_timeout=2)
    result = runner.run()  # its own zygote, closed at the end
    assert statuses(result)["attention.softmax_reference"] == "timeout"
    assert descendants(os.getpid()) == [] or all(
        _is_zygote_of(p, zygote) for p in descendants(os.getpid()))


def _is_zygote_of(pid: int, zygote) -> bool:
    from grader.worker.procs import descendants

    return pid == zygote.proc.pid or pid in descendants(zygote.proc.pid)


def test_same_submission_same_score(zygote, tmp_path):
    path = sorted((SOLUTIONS.parent / "mistakes" / "attention").glob("sdpa_mask_after_softmax.py"))[0]
    sub = submission_from_reference(tmp_path, {"attention": path.read_text()})
    a = grade(zygote, sub, ["attention"])
    b = grade(zygote, sub, ["attention"])
    assert a.seed == b.seed
    assert statuses(a) == statuses(b)
    assert [c.message for c in a.exercises[0].checks] == [c.message for c in b.exercises[0].checks]
