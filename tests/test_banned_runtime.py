"""Banned APIs are judged where every alias lands (issue: points only for what works).

Each bypass below reaches a banned computation through a name the static scan of the source
does not list; the worker's run-time watch (torch-function and dispatcher level, table in
grader/protocol/bans.py) catches it during the scoped call, and banned_apis fails.
"""

from __future__ import annotations

import pytest

from tests.harness import grade, statuses, submission_from_reference

SOFTMAX_BYPASSES = {
    "module_alias": "_sm = torch.softmax\ndef softmax(x, dim=-1):\n    return _sm(x, dim)\n",
    "aten_op": "def softmax(x, dim=-1):\n    return torch.ops.aten._softmax(x, dim, False)\n",
    "private": "def softmax(x, dim=-1):\n    return torch._softmax(x, dim, False)\n",
    "tensorbase": "def softmax(x, dim=-1):\n    return torch._C.TensorBase.softmax(x, dim)\n",
    "variable_functions": "def softmax(x, dim=-1):\n    return torch._C._VariableFunctions.softmax(x, dim)\n",
    "caught_and_hidden": ("def softmax(x, dim=-1):\n    try:\n        return torch.softmax(x, dim)\n"
                          "    except Exception:\n        e = (x - x.amax(dim, keepdim=True)).exp()\n"
                          "        return e / e.sum(dim, keepdim=True)\n"),
}


@pytest.mark.parametrize("name", sorted(SOFTMAX_BYPASSES))
def test_softmax_bypass_is_caught(zygote, tmp_path, name):
    sub = submission_from_reference(tmp_path, {"attention": "import torch\n" + SOFTMAX_BYPASSES[name]})
    st = statuses(grade(zygote, sub, ["attention"], "official"))
    assert st["attention.banned_apis"] != "passed", name


def test_native_layer_norm_bypass_is_caught(zygote, tmp_path):
    code = ("import torch\ndef layer_norm(x, weight, bias, eps=1e-5):\n"
            "    return torch.ops.aten.native_layer_norm(x, (x.shape[-1],), weight, bias, eps)[0]\n")
    sub = submission_from_reference(tmp_path, {"blocks": code})
    st = statuses(grade(zygote, sub, ["blocks"], "official"))
    assert st["blocks.banned_apis"] != "passed"


def test_vf_rnn_cell_bypass_is_caught(zygote, tmp_path):
    code = '''
import torch
_cell = torch._VF.rnn_tanh_cell
_forward = SimpleRNN.forward
def _patched(self, x, h0=None):
    B, L = x.shape[0], x.shape[1]
    h = x.new_zeros(B, self.W_hh.shape[0]) if h0 is None else h0
    outs = []
    for t in range(L):
        h = _cell(x[:, t], h, self.W_ih, self.W_hh, self.b_ih, self.b_hh)
        outs.append(h)
    return torch.stack(outs, 1), h
SimpleRNN.forward = _patched
'''
    sub = submission_from_reference(tmp_path, {"classic": code})
    st = statuses(grade(zygote, sub, ["classic"], "official"))
    assert st["classic.banned_apis"] != "passed"


def test_correct_code_is_not_flagged(zygote, tmp_path):
    """A manual softmax computed through helpers and float64 still passes banned_apis."""
    code = '''
import torch
def _helper(x, dim):
    x64 = x.double()
    e = (x64 - x64.amax(dim, keepdim=True)).exp()
    return (e / e.sum(dim, keepdim=True)).to(x.dtype)
def softmax(x, dim=-1):
    return _helper(x, dim)
'''
    sub = submission_from_reference(tmp_path, {"attention": code})
    st = statuses(grade(zygote, sub, ["attention"], "official"))
    assert st["attention.banned_apis"] == "passed"
    assert st["attention.softmax_reference"] == "passed"


def test_lands_table():
    from grader.protocol.bans import lands

    fns, ops = lands(["torch.softmax", "tiktoken.*", "torch.nn.LayerNorm", "torch._foreach_*"])
    assert {"softmax", "_softmax", "layer_norm"} <= fns and "_foreach_*" in ops
    assert "*" not in fns | ops  # another package's ban never matches every torch call
