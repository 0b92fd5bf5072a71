"""Banned APIs judged where every alias lands, and points only for what works.

- checks that do not test correctness (banned APIs, behaviour, structure) count only when
  the correctness checks of the same functions or classes pass, and the report says why;
- the function the exercise module exposes is judged wherever it was defined (re-exports
  from helper modules of the submission);
- aliases the static scan resolves: module-level aliases, helpers, torch's other names for
  the same operator (``torch._softmax``, ``torch.ops.aten.*``, ``torch._C._VariableFunctions``,
  ``torch._C.TensorBase``, ``torch._VF``, ``torch.nn.modules.*``), ``getattr`` with a constant.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader import formats
from grader.banned import Submission, banned_check, canonical, scan_scope
from grader.checks import CheckFailed
from grader.reports import translate
from tests.harness import EXERCISES, SOLUTIONS, exercise, grade, statuses, submission_from_reference

OK_SOFTMAX = '''
import torch


def softmax(x, dim=-1):
    if x.shape[dim] == 0:
        return x.clone()
    e = (x - x.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)
'''

BYPASSES = {
    "attention": {
        "module-level alias": "import torch\n_sm = torch.softmax\n\ndef softmax(x, dim=-1):\n    return _sm(x, dim)\n",
        "alias of a from-import": "from torch import softmax as _s\n\ndef softmax(x, dim=-1):\n    return _s(x, dim)\n",
        "torch._softmax": "import torch\n\ndef softmax(x, dim=-1):\n    return torch._softmax(x, dim, False)\n",
        "torch.ops.aten._softmax": ("import torch\n\ndef softmax(x, dim=-1):\n"
                                    "    return torch.ops.aten._softmax(x, dim, False)\n"),
        "aten overload": ("from torch.ops import aten\n\ndef softmax(x, dim=-1):\n"
                          "    return aten._softmax.default(x, dim, False)\n"),
        "torch._C._VariableFunctions.softmax": ("import torch\n\ndef softmax(x, dim=-1):\n"
                                                "    return torch._C._VariableFunctions.softmax(x, dim)\n"),
        "torch._C.TensorBase.softmax": ("import torch\n\ndef softmax(x, dim=-1):\n"
                                        "    return torch._C.TensorBase.softmax(x, dim)\n"),
        "getattr with a constant": ("import torch\n\ndef softmax(x, dim=-1):\n"
                                    "    return getattr(torch, 'softmax')(x, dim)\n"),
        "a helper that uses it": ("import torch\n\ndef _norm(x, d):\n    return x.softmax(d)\n\n"
                                  "def softmax(x, dim=-1):\n    return _norm(x, dim)\n"),
        "a default argument": "import torch\n\ndef softmax(x, dim=-1, f=torch.softmax):\n    return f(x, dim)\n",
        "a lambda": "import torch\nsoftmax = lambda x, dim=-1: torch.softmax(x, dim)  # noqa\n",
        "imported whole": "from torch.nn.functional import softmax\n",
        # a submission's own object's attribute is not taken for Tensor.softmax, but what the
        # object holds is still read
        "a class attribute aliasing it": ("import torch\n\nclass Ops:\n    softmax = torch.softmax\n\n"
                                          "def softmax(x, dim=-1):\n    return Ops.softmax(x, dim)\n"),
        "torch under another name": "import torch\nOps = torch\n\ndef softmax(x, dim=-1):\n    return Ops.softmax(x, dim)\n",
        "a tensor method in a namespace class": ("class Ops:\n    @staticmethod\n    def f(x, d):\n"
                                                 "        return x.softmax(d)\n\n"
                                                 "def softmax(x, dim=-1):\n    return Ops.f(x, dim)\n"),
        "an annotation beside a use": ("import torch\n\ndef softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:\n"
                                       "    return torch.softmax(x, dim)\n"),
    },
    "blocks": {
        "torch.ops.aten.native_layer_norm": (
            "import torch\n\ndef layer_norm(x, weight, bias, eps=1e-5):\n"
            "    return torch.ops.aten.native_layer_norm(x, [x.shape[-1]], weight, bias, eps)[0]\n"),
        "torch.nn.modules path": (
            "import torch\n\ndef layer_norm(x, weight, bias, eps=1e-5):\n"
            "    ln = torch.nn.modules.normalization.LayerNorm(x.shape[-1], eps=eps)\n    return ln(x)\n"),
    },
    "classic": {
        "torch._VF.rnn_tanh_cell": (
            "import torch\nfrom torch import nn\n\nclass SimpleRNN(nn.Module):\n"
            "    def forward(self, x, h0=None):\n        return torch._VF.rnn_tanh_cell(x, h0, self.W_ih, self.W_hh)\n"),
    },
    "embedding": {
        "torch.embedding": ("import torch\nfrom torch import nn\n\nclass WordEmbedding(nn.Module):\n"
                            "    def forward(self, ids):\n        return torch.embedding(self.weight, ids)\n"),
    },
}
CASES = [(ex, name, code) for ex, codes in BYPASSES.items() for name, code in codes.items()]


class _Ctx:
    def __init__(self, folder: Path) -> None:
        self.submission, self.banned_seen = folder, []


def _judge(tmp_path: Path, files: dict[str, str], ex_id: str):
    """Run the banned_apis check (its static part) on a submission of these files."""
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    for f in SOLUTIONS.glob("*.py"):
        (sub / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    for name, text in files.items():
        (sub / f"{name}.py").write_text(text, encoding="utf-8")
    banned_check(exercise(ex_id)).run(_Ctx(sub))


@pytest.mark.parametrize("ex_id,name,code", CASES, ids=[f"{e}/{n}" for e, n, _ in CASES])
def test_bypass_is_caught_statically(tmp_path, ex_id, name, code):
    base = (SOLUTIONS / f"{ex_id}.py").read_text(encoding="utf-8")
    with pytest.raises(CheckFailed) as info:
        _judge(tmp_path, {ex_id: base + "\n\n# --- override ---\n" + code}, ex_id)
    failure = info.value.failure
    assert not failure.not_implemented
    assert re.search(r"uses \S+, which this exercise asks you to implement yourself", failure.message), \
        failure.message
    assert failure.frames and failure.frames[0][0] == f"{ex_id}.py"


def test_bypass_in_a_helper_module_is_caught(tmp_path):
    helper = "import torch\n\ndef softmax(x, dim=-1):\n    return torch.ops.aten._softmax(x, dim, False)\n"
    base = (SOLUTIONS / "attention.py").read_text(encoding="utf-8")
    with pytest.raises(CheckFailed, match="uses torch.ops.aten._softmax") as info:
        _judge(tmp_path, {"attention": base + "\nfrom helpers import softmax\n", "helpers": helper}, "attention")
    assert info.value.failure.frames[0][0] == "helpers.py"


@pytest.mark.parametrize("how", ["from _mylib import softmax", "from _mylib import *",
                                 "import _mylib\nsoftmax = _mylib.softmax",
                                 "from _mylib import softmax as _s\nsoftmax = _s"])
def test_reexported_function_is_judged_where_it_is_defined(tmp_path, how):
    base = (SOLUTIONS / "attention.py").read_text(encoding="utf-8")
    start = base.index("def softmax(")
    end = base.index("\ndef ", start + 1)
    without = base[:start] + base[end:]
    _judge(tmp_path, {"attention": without[:start] + how + "\n" + without[start:], "_mylib": OK_SOFTMAX},
           "attention")  # no failure


def test_a_stub_and_a_missing_function_are_not_implemented(tmp_path):
    with pytest.raises(CheckFailed) as info:
        _judge(tmp_path, {"attention": (EXERCISES / "attention.py").read_text(encoding="utf-8")}, "attention")
    assert info.value.failure.not_implemented
    base = (SOLUTIONS / "attention.py").read_text(encoding="utf-8")
    with pytest.raises(CheckFailed, match="softmax is not implemented yet"):
        _judge(tmp_path, {"attention": base.replace("def softmax(", "def softmax_renamed(")}, "attention")


def test_canonical_names():
    assert canonical("torch.ops.aten._softmax.default") == "aten._softmax"
    assert canonical("torch._VF.rnn_tanh_cell") == "torch.rnn_tanh_cell"
    assert canonical("torch._C._TensorBase.softmax") == "Tensor.softmax"
    assert canonical("torch.nn.modules.rnn.RNN") == "nn.RNN"
    assert canonical("torch._C._nn.scaled_dot_product_attention") == "F.scaled_dot_product_attention"


def test_scan_follows_helpers_but_not_locals(tmp_path):
    (tmp_path / "attention.py").write_text(
        "import torch\nsoftmax_ref = torch.softmax\n\n"
        "def softmax(x, dim=-1):\n    softmax_ref = x.exp()\n    return softmax_ref / softmax_ref.sum(dim, keepdim=True)\n",
        encoding="utf-8")
    root, hits = scan_scope(Submission(tmp_path), "attention", "softmax", exercise("attention").banned["softmax"])
    assert root.kind == "def" and hits == []


# --- graded end to end -------------------------------------------------------------------------------


def test_reexports_get_full_marks(zygote, tmp_path):
    base = (SOLUTIONS / "attention.py").read_text(encoding="utf-8")
    start = base.index("def softmax(")
    end = base.index("\ndef ", start + 1)
    sub = submission_from_reference(tmp_path, replace={"attention": base[:start] + "from helpers import *\n"
                                                       + base[end:]})
    (sub / "helpers.py").write_text(OK_SOFTMAX, encoding="utf-8")
    result = grade(zygote, sub, ["attention"])
    assert result.score == result.max_score, statuses(result)


def test_alias_bypass_loses_banned_points(zygote, tmp_path):
    sub = submission_from_reference(tmp_path, {"attention": BYPASSES["attention"]["module-level alias"]})
    result = grade(zygote, sub, ["attention"])
    st = statuses(result)
    # the static scan fails banned_apis; the worker's run-time watch also stops the call itself
    assert st["attention.banned_apis"] == "failed"


def _runtime_error_stubs(tmp_path: Path) -> Path:
    sub = tmp_path / "runtime"
    sub.mkdir()
    for f in EXERCISES.glob("*.py"):
        text = f.read_text(encoding="utf-8").replace("raise NotImplementedError(", "raise RuntimeError(")
        (sub / f.name).write_text(text, encoding="utf-8")
    return sub


def test_code_that_does_nothing_scores_nothing(zygote, tmp_path):
    """Every function raises RuntimeError: banned_apis passes its scan but gives no points."""
    ids = ["attention", "embedding", "blocks", "classic"]
    result = grade(zygote, _runtime_error_stubs(tmp_path), ids)
    assert result.score == 0, [(e.id, c.id, c.score) for e in result.exercises for c in e.checks if c.score]
    for ex in result.exercises:
        banned = next(c for c in ex.checks if c.id == "banned_apis")
        assert banned.status == "passed" and banned.score == 0
        assert banned.withheld.startswith("points withheld: this check does not test correctness")
        assert "暂不计分" in translate(banned.withheld, "zh", ex.id)
    # every format says why
    for fmt in formats.FORMATS:
        assert "points withheld" in formats.render_format(result, fmt, "en", student=True), fmt
        assert "暂不计分" in formats.render_format(result, fmt, "zh", student=True), fmt


GARBAGE_ATTENTION = '''
import torch
from torch import nn


def scaled_dot_product_attention(q, k, v, mask=None):
    probs = torch.zeros(*q.shape[:-1], k.shape[-2], dtype=q.dtype)
    return torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype), probs


class SelfAttention(nn.Module):
    def __init__(self, d_model, d_k=None):
        super().__init__()
        d_k = d_k or d_model
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(d_model, d_k) for _ in range(3))
        self.o_proj = nn.Linear(d_k, d_model)

    def forward(self, x, mask=None):
        return torch.zeros_like(x)
'''


def test_garbage_attention_earns_no_behaviour_or_structure_points(zygote, tmp_path):
    sub = submission_from_reference(tmp_path, {"attention": GARBAGE_ATTENTION})
    result = grade(zygote, sub, ["attention"])
    checks = {c.id: c for c in result.exercises[0].checks}
    for cid, dep in (("sdpa_behaviour", "scaled_dot_product_attention"), ("self_attention_structure", "SelfAttention")):
        assert checks[cid].status == "passed" and checks[cid].score == 0, cid
        assert f"correctness checks of {dep} pass" in checks[cid].withheld
    assert checks["softmax_properties"].score == checks["softmax_properties"].max_score
    text = formats.rich_text(result)
    assert "○" in text and "points withheld" in text
