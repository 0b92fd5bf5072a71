"""The heads reference: LMHead tying, ClassificationHead pooling against manual torch
code, and sample_next_token's statistics (fixed generator seeds, stated error rates).
"""

from __future__ import annotations

import heads
import pytest
import torch
import torch.nn.functional as F
from torch import nn


def test_lm_head_untied_equals_linear():
    torch.manual_seed(0)
    head = heads.LMHead(6, 11).double()
    assert head.proj.bias is None and head.proj.weight.shape == (11, 6)
    h = torch.randn(2, 3, 6, dtype=torch.float64)
    torch.testing.assert_close(head(h), F.linear(h, head.proj.weight), rtol=1e-12, atol=1e-12)


def test_lm_head_tied_weight_is_the_same_parameter():
    emb = nn.Embedding(11, 6)
    head = heads.LMHead(6, 11, tied_weight=emb.weight)
    assert head.proj.weight is emb.weight
    h = torch.randn(4, 6)
    torch.testing.assert_close(head(h), h @ emb.weight.T)
    # a step on the embedding moves the head too
    with torch.no_grad():
        emb.weight.add_(1.0)
    torch.testing.assert_close(head(h), h @ emb.weight.T)
    # gradients from both uses land on the single parameter
    ids = torch.tensor([1, 2])
    head(emb(ids)).sum().backward()
    assert emb.weight.grad is not None and head.proj.weight.grad is emb.weight.grad
    # the shared parameter is counted once
    both = nn.ModuleDict({"emb": emb, "head": head})
    assert len(list(both.parameters())) == 1
    with pytest.raises(ValueError):
        heads.LMHead(5, 11, tied_weight=emb.weight)


def test_classification_head_cls_and_mean():
    torch.manual_seed(1)
    h = torch.randn(3, 5, 4, dtype=torch.float64)
    real = torch.arange(5) < torch.tensor([5, 2, 1])[:, None]
    cls = heads.ClassificationHead(4, 3).double()
    torch.testing.assert_close(cls(h, real), F.linear(h[:, 0], cls.proj.weight, cls.proj.bias))
    torch.testing.assert_close(cls(h), cls(h, real))
    mean = heads.ClassificationHead(4, 3, pooling="mean").double()
    pooled = torch.stack([h[b, : int(n)].mean(0) for b, n in enumerate([5, 2, 1])])
    want = F.linear(pooled, mean.proj.weight, mean.proj.bias)
    torch.testing.assert_close(mean(h, real), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mean(h), F.linear(h.mean(1), mean.proj.weight, mean.proj.bias))
    # padding content never matters
    h2 = h.clone()
    h2[~real] = 1e3
    torch.testing.assert_close(mean(h2, real), want, rtol=1e-12, atol=1e-12)


def test_classification_head_invalid_pooling():
    with pytest.raises(ValueError):
        heads.ClassificationHead(4, 2, pooling="max")


def test_sample_greedy_is_argmax():
    logits = torch.randn(6, 9)
    got = heads.sample_next_token(logits, temperature=0.0)
    assert got.dtype == torch.long
    assert torch.equal(got, logits.argmax(-1))
    assert torch.equal(heads.sample_next_token(logits, temperature=0, top_k=3), logits.argmax(-1))


def test_sample_invalid_arguments():
    logits = torch.randn(2, 5)
    with pytest.raises(ValueError):
        heads.sample_next_token(logits, temperature=-0.5)
    with pytest.raises(ValueError):
        heads.sample_next_token(logits, top_k=0)


def _frequencies(logits_row, n, **kw):
    logits = logits_row.expand(n, -1).contiguous()
    g = torch.Generator().manual_seed(1234)
    draws = heads.sample_next_token(logits, generator=g, **kw)
    assert draws.shape == (n,) and draws.dtype == torch.long
    return torch.bincount(draws, minlength=logits_row.numel()).double() / n


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_sample_frequencies_follow_softmax_over_temperature(temperature):
    row = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0], dtype=torch.float64)
    n = 40_000
    freq = _frequencies(row, n, temperature=temperature)
    p = torch.softmax(row / temperature, dim=-1)
    # 6 standard deviations per cell: an honest sampler fails with probability < 1e-8
    sd = torch.sqrt(p * (1 - p) / n)
    assert (torch.abs(freq - p) <= 6 * sd + 1e-12).all(), (freq, p)


def test_sample_top_k_support_and_renormalisation():
    row = torch.tensor([0.1, 3.0, -2.0, 2.5, 1.0, 0.0], dtype=torch.float64)
    n = 40_000
    freq = _frequencies(row, n, temperature=1.3, top_k=3)
    keep = torch.tensor([1, 3, 4])
    outside = torch.ones(6, dtype=torch.bool)
    outside[keep] = False
    assert (freq[outside] == 0).all()
    p = torch.softmax(row[keep] / 1.3, dim=-1)
    sd = torch.sqrt(p * (1 - p) / n)
    assert (torch.abs(freq[keep] - p) <= 6 * sd).all()
    # top_k = 1 is greedy; top_k >= V is no cut
    assert (_frequencies(row, 500, top_k=1)[1] == 1.0).item()
    freq_all = _frequencies(row, n, top_k=10)
    p_all = torch.softmax(row, dim=-1)
    assert (torch.abs(freq_all - p_all) <= 6 * torch.sqrt(p_all * (1 - p_all) / n)).all()


def test_sample_same_generator_seed_same_draws():
    logits = torch.randn(50, 7)
    before = logits.clone()
    a = heads.sample_next_token(logits, temperature=0.7, top_k=3, generator=torch.Generator().manual_seed(7))
    b = heads.sample_next_token(logits, temperature=0.7, top_k=3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert torch.equal(logits, before)  # the input is not modified
