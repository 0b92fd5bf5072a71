"""The classic reference against code nobody on the team wrote.

Oracles: torch.nn.RNN(batch_first=True) with copied weights, and a direct
torch.nn.functional.conv1d / relu / max computation for TextCNN from its own submodules'
weights.
"""

from __future__ import annotations

import classic
import pytest
import torch
import torch.nn.functional as F
from torch import nn

TOL = {"rtol": 1e-12, "atol": 1e-12}


# ---------------------------------------------------------------- SimpleRNN


def make_rnn(inp=3, hidden=5, seed=0):
    torch.manual_seed(seed)
    rnn = classic.SimpleRNN(inp, hidden).double()
    ref = nn.RNN(inp, hidden, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(rnn.W_ih)
        ref.weight_hh_l0.copy_(rnn.W_hh)
        ref.bias_ih_l0.copy_(rnn.b_ih)
        ref.bias_hh_l0.copy_(rnn.b_hh)
    return rnn, ref


def test_rnn_parameters_and_init():
    rnn = classic.SimpleRNN(3, 5)
    shapes = {name: tuple(p.shape) for name, p in rnn.named_parameters()}
    assert shapes == {"W_ih": (5, 3), "W_hh": (5, 5), "b_ih": (5,), "b_hh": (5,)}
    big = classic.SimpleRNN(40, 100)
    for p in big.parameters():
        assert p.abs().max() <= 0.1 and p.abs().max() > 0.09   # U(-1/sqrt(100), 1/sqrt(100))


@pytest.mark.parametrize("B,L", [(1, 1), (2, 7), (4, 3)])
def test_rnn_matches_torch_rnn_without_h0(B, L):
    rnn, ref = make_rnn()
    x = torch.randn(B, L, 3, dtype=torch.float64)
    x0 = x.clone()
    out, h = rnn(x)
    want_out, want_h = ref(x)
    assert out.shape == (B, L, 5) and h.shape == (B, 5) and out.dtype == torch.float64
    torch.testing.assert_close(out, want_out, **TOL)
    torch.testing.assert_close(h, want_h[0], **TOL)
    torch.testing.assert_close(h, out[:, -1], rtol=0, atol=0)
    assert torch.equal(x, x0)


def test_rnn_matches_torch_rnn_with_h0_and_gradients():
    rnn, ref = make_rnn(seed=1)
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    h0 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    h0_ref = h0.detach().clone().requires_grad_()
    out, h = rnn(x, h0)
    want_out, want_h = ref(x, h0_ref[None])
    torch.testing.assert_close(out, want_out, **TOL)
    torch.testing.assert_close(h, want_h[0], **TOL)
    (out.sum() + h.square().sum()).backward()
    (want_out.sum() + want_h.square().sum()).backward()
    torch.testing.assert_close(h0.grad, h0_ref.grad, **TOL)
    torch.testing.assert_close(rnn.W_hh.grad, ref.weight_hh_l0.grad, **TOL)


def test_rnn_float32_and_invalid():
    rnn, ref = make_rnn(seed=2)
    rnn, ref = rnn.float(), ref.float()
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(rnn(x)[0], ref(x)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        rnn(torch.randn(2, 4, 4))                       # wrong input_size
    with pytest.raises(ValueError):
        rnn(x, torch.zeros(3, 5))                        # h0 batch mismatch


# ---------------------------------------------------------------- TextCNN


def textcnn_oracle(m: classic.TextCNN, ids):
    e = F.embedding(ids, m.emb.weight).transpose(1, 2)   # (B, dim, L)
    feats = []
    for conv in m.convs:
        y = F.conv1d(e, conv.weight, conv.bias)           # (B, C, L - k + 1)
        feats.append(F.relu(y).max(dim=-1).values)
    return F.linear(torch.cat(feats, dim=-1), m.proj.weight, m.proj.bias)


def test_textcnn_submodules():
    m = classic.TextCNN(30, 8, 3, kernel_sizes=(2, 3, 5), channels=4)
    assert isinstance(m.emb, nn.Embedding) and m.emb.weight.shape == (30, 8)
    assert isinstance(m.convs, nn.ModuleList) and len(m.convs) == 3
    for conv, k in zip(m.convs, (2, 3, 5), strict=True):
        assert isinstance(conv, nn.Conv1d)
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding) == (8, 4, (k,), (0,))
        assert conv.bias is not None
    assert isinstance(m.proj, nn.Linear) and m.proj.weight.shape == (3, 12)
    default = classic.TextCNN(10, 6, 2)
    assert [c.kernel_size[0] for c in default.convs] == [2, 3, 4]
    assert all(c.out_channels == 16 for c in default.convs) and default.proj.in_features == 48


@pytest.mark.parametrize("L", [5, 6, 11])
def test_textcnn_matches_direct_conv1d(L):
    torch.manual_seed(4)
    m = classic.TextCNN(30, 8, 3, kernel_sizes=(2, 3, 5), channels=4).double()
    ids = torch.randint(30, (2, L))
    out = m(ids)
    assert out.shape == (2, 3) and out.dtype == torch.float64
    torch.testing.assert_close(out, textcnn_oracle(m, ids), **TOL)


def test_textcnn_features_are_nonnegative_maxima_and_invalid_length():
    torch.manual_seed(5)
    m = classic.TextCNN(20, 6, 2, kernel_sizes=(2, 3), channels=3).double()
    ids = torch.randint(20, (4, 7))
    seen = {}
    m.proj.register_forward_hook(lambda mod, args, out: seen.update(feats=args[0]))
    m(ids)
    e = m.emb(ids).transpose(1, 2)
    want = torch.cat([F.relu(c(e)).amax(-1) for c in m.convs], dim=-1)
    torch.testing.assert_close(seen["feats"], want, **TOL)      # kernel-size order, ReLU, max
    assert (seen["feats"] >= 0).all()
    with pytest.raises(ValueError):
        m(torch.tensor([[1, 2]]))                        # shorter than kernel 3
    m3 = classic.TextCNN(20, 6, 2)
    with pytest.raises(ValueError):
        m3(torch.randint(20, (2, 3)))                    # shorter than kernel 4
    assert m3(torch.randint(20, (2, 4))).shape == (2, 2)
