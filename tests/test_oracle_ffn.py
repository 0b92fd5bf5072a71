"""The ffn reference against torch's own functional ops (F.linear, F.gelu, F.relu, softmax)."""

from __future__ import annotations

import ffn
import pytest
import torch
import torch.nn.functional as F

TOL = {"rtol": 1e-10, "atol": 1e-12}


def test_neural_memory_equals_torch_softmax():
    x = torch.randn(2, 3, 6, dtype=torch.float64)
    keys = torch.randn(5, 6, dtype=torch.float64)
    values = torch.randn(5, 4, dtype=torch.float64)
    want = torch.softmax(x @ keys.T, dim=-1) @ values
    got = ffn.neural_memory(x, keys, values)
    assert got.shape == (2, 3, 4)
    torch.testing.assert_close(got, want, **TOL)


def test_neural_memory_reads_the_matching_value():
    keys = torch.eye(3, dtype=torch.float64) * 50.0
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    got = ffn.neural_memory(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), keys, values)
    torch.testing.assert_close(got, values[2], rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feedforward_equals_functional(activation):
    torch.manual_seed(0)
    m = ffn.FeedForward(6, 10, activation=activation).double()
    x = torch.randn(2, 3, 6, dtype=torch.float64)
    act = F.gelu if activation == "gelu" else F.relu
    h = act(F.linear(x, m.up.weight, m.up.bias))
    want = F.linear(h, m.down.weight, m.down.bias)
    torch.testing.assert_close(m(x), want, **TOL)


def test_feedforward_default_width_and_exact_gelu():
    m = ffn.FeedForward(5, activation="gelu").double()
    assert m.up.weight.shape == (20, 5) and m.down.weight.shape == (5, 20)
    x = torch.randn(4, 5, dtype=torch.float64)
    tanh = m.down(F.gelu(m.up(x), approximate="tanh"))
    assert not torch.allclose(m(x), tanh, rtol=0, atol=1e-9)


def test_feedforward_invalid_activation():
    with pytest.raises(ValueError):
        ffn.FeedForward(4, activation="swish")


@pytest.mark.parametrize("d_model,d_ff", [(4, None), (6, 10), (16, None), (7, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_param_count_equals_module(d_model, d_ff, bias):
    m = ffn.FeedForward(d_model, d_ff)
    params = [m.up.weight, m.down.weight] + ([m.up.bias, m.down.bias] if bias else [])
    assert ffn.ffn_param_count(d_model, d_ff, bias=bias) == sum(p.numel() for p in params)
    if bias:
        assert ffn.ffn_param_count(d_model, d_ff) == sum(p.numel() for p in m.parameters())


def test_param_count_is_eight_d_squared():
    assert ffn.ffn_param_count(64, bias=False) == 8 * 64**2
