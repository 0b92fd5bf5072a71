"""Checks that miss real mistakes no more: a right forward with a wrong gradient, a function
that changes one of its tensor arguments in place. (The known mistakes that need these,
mistakes/*/, are graded by tests/test_course.py.) Correct code written another way keeps
full marks."""

from __future__ import annotations

import re

import pytest

from tests.harness import MISTAKES, grade, statuses, submission_from_reference

DETACHED_LAYER_NORM = '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True).detach()
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True).detach()
    return (x - mean) / (var + eps).sqrt() * weight + bias
'''

SOFTMAX_IN_PLACE = '''
def softmax(x, dim=-1):
    x -= x.amax(dim=dim, keepdim=True)
    x.exp_()
    return x / x.sum(dim=dim, keepdim=True)
'''

MLM_LOSS_IN_PLACE = '''
import torch


def masked_lm_loss(logits, labels):
    keep = labels != -100
    labels[~keep] = 0  # in place: the caller's labels change
    nll = -logits.log_softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (nll * keep).sum() / keep.sum().clamp_min(1)
'''


@pytest.mark.parametrize("mode", ["official", "local"])
def test_right_forward_wrong_gradient_fails(zygote, tmp_path, mode):
    sub = submission_from_reference(tmp_path, {"blocks": DETACHED_LAYER_NORM})
    result = grade(zygote, sub, ["blocks"], mode)
    c = next(c for c in result.exercises[0].checks if c.id == "layer_norm_reference")
    assert c.status == "failed" and "gradient with respect to argument 0" in c.message, c.message
    assert "grad[argument 0]" in c.failure.error
    assert c.failure.diagnosis.startswith("Your layer_norm detaches the mean and variance")  # named


@pytest.mark.parametrize("ex_id,code,check", [
    ("attention", SOFTMAX_IN_PLACE, "softmax_reference"),
    ("objectives", MLM_LOSS_IN_PLACE, "masked_lm_loss_reference"),
])
def test_modifying_an_argument_in_place_fails(zygote, tmp_path, ex_id, code, check):
    sub = submission_from_reference(tmp_path, {ex_id: code})
    result = grade(zygote, sub, [ex_id], "official")
    c = next(c for c in result.exercises[0].checks if c.id == check)
    assert c.status == "failed" and re.search(r"modified its input argument \d in place", c.message), c.message


def test_mutation_is_checked_in_property_and_statistical_checks(zygote, tmp_path):
    mistake = (MISTAKES / "heads" / "sample_scales_logits_in_place.py").read_text(encoding="utf-8")
    result = grade(zygote, submission_from_reference(tmp_path, {"heads": mistake}), ["heads"], "local")
    st = statuses(result)
    assert st["heads.sample_temperature_statistics"] == "failed"
    msg = next(c.message for c in result.exercises[0].checks if c.id == "sample_temperature_statistics")
    assert "sample_next_token modified its input argument 0 in place" in msg


CORRECT_OTHER_WAYS = {
    "attention": '''
import torch


def softmax(x, dim=-1):
    if x.numel() == 0:
        return torch.empty_like(x)
    m = x.max(dim=dim, keepdim=True).values.detach()   # the shift cancels: no gradient needed
    e = torch.exp(x.double() - m.double())
    return (e / e.sum(dim=dim, keepdim=True)).to(x.dtype)
''',
    "ffn": '''
import torch


def _forward(self, x):
    h = self.up(x)
    if self.activation == "gelu":
        h = 0.5 * h * (1 + torch.erf(h / 2 ** 0.5))
    else:
        h = h.clamp(min=0)  # gradient 1 where h is exactly 0: a subgradient, accepted
    return self.down(h)


FeedForward.forward = _forward  # noqa: F821
''',
    "blocks": '''
import torch


def layer_norm(x, weight, bias, eps=1e-5):
    x64 = x.double()
    mu = x64.mean(-1, keepdim=True)
    var = (x64 - mu).pow(2).mean(-1, keepdim=True)
    return ((x64 - mu) * torch.rsqrt(var + eps)).to(x.dtype) * weight + bias
''',
}


@pytest.mark.parametrize("ex_id", sorted(CORRECT_OTHER_WAYS))
def test_correct_code_written_another_way_keeps_full_marks(zygote, tmp_path, ex_id):
    sub = submission_from_reference(tmp_path, {ex_id: CORRECT_OTHER_WAYS[ex_id]})
    for mode in ("official", "local"):
        result = grade(zygote, sub, [ex_id], mode)
        assert result.score == result.max_score, (mode, {k: v for k, v in statuses(result).items() if v != "passed"})
