"""The reference LoRA (solutions/lora.py) against peft's LoRA layer, plus its properties."""

from __future__ import annotations

import copy
import math

import lora
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

SHAPES = [(5, 3, 1, 1.0), (7, 4, 2, 6.0), (16, 9, 4, 8.0), (4, 12, 8, 3.5)]


class Tiny(nn.Module):
    """A module with one target layer ``proj`` and one layer that must stay untouched."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)
        self.other = nn.Linear(d_out, 2)

    def forward(self, x):
        return self.proj(x)


def _pair(d_in, d_out, r, alpha, seed=0):
    """Our LoRALinear and a peft-wrapped Tiny sharing the same base weights and A, B."""
    peft = pytest.importorskip("peft", reason="peft is not installed (pip install peft)")
    torch.manual_seed(seed)
    tiny = Tiny(d_in, d_out).double()
    ours = lora.LoRALinear(copy.deepcopy(tiny.proj), r, alpha)
    cfg = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=["proj"], lora_dropout=0.0)
    theirs = peft.get_peft_model(tiny, cfg)
    layer = theirs.base_model.model.proj
    with torch.no_grad():
        ours.lora_A.copy_(torch.randn_like(ours.lora_A))
        ours.lora_B.copy_(torch.randn_like(ours.lora_B))
        layer.lora_A["default"].weight.copy_(ours.lora_A)
        layer.lora_B["default"].weight.copy_(ours.lora_B)
    return ours, theirs, layer


@pytest.mark.parametrize("d_in,d_out,r,alpha", SHAPES)
def test_forward_matches_peft(d_in, d_out, r, alpha):
    ours, theirs, layer = _pair(d_in, d_out, r, alpha)
    assert ours.scaling == pytest.approx(layer.scaling["default"])
    x = torch.randn(2, 3, d_in, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d_in,d_out,r,alpha", SHAPES)
def test_merge_matches_peft(d_in, d_out, r, alpha):
    ours, theirs, layer = _pair(d_in, d_out, r, alpha, seed=1)
    x = torch.randn(3, d_in, dtype=torch.float64)
    before = ours(x)
    ours.merge()
    layer.merge()
    torch.testing.assert_close(ours.base.weight, layer.base_layer.weight, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours(x), before, rtol=1e-12, atol=1e-12)
    ours.unmerge()
    layer.unmerge()
    torch.testing.assert_close(ours.base.weight, layer.base_layer.weight, rtol=1e-12, atol=1e-12)


def test_merge_and_unload_matches_peft():
    ours, theirs, _ = _pair(6, 5, 3, 9.0, seed=2)
    merged_model = theirs.merge_and_unload()
    assert isinstance(merged_model.proj, nn.Linear)
    ours.merge()
    torch.testing.assert_close(ours.base.weight, merged_model.proj.weight, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.base.bias, merged_model.proj.bias)


def test_init_distribution_matches_peft():
    """Both: lora_B is zero, lora_A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform, a=sqrt(5))."""
    peft = pytest.importorskip("peft", reason="peft is not installed (pip install peft)")
    d_in, d_out, r = 256, 8, 64
    torch.manual_seed(0)
    ours = lora.LoRALinear(nn.Linear(d_in, d_out), r, 16.0)
    cfg = peft.LoraConfig(r=r, lora_alpha=16.0, target_modules=["proj"], lora_dropout=0.0)
    layer = peft.get_peft_model(Tiny(d_in, d_out), cfg).base_model.model.proj
    bound = 1.0 / math.sqrt(d_in)
    for a, b in [(ours.lora_A, ours.lora_B), (layer.lora_A["default"].weight, layer.lora_B["default"].weight)]:
        assert a.shape == (r, d_in) and b.shape == (d_out, r)
        assert torch.count_nonzero(b) == 0
        assert a.abs().max() <= bound
        assert a.abs().max() >= 0.99 * bound            # 16384 draws reach the bound
        assert a.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
        assert abs(a.mean().item()) < 0.02 * bound


def test_trainable_parameters_match_peft():
    peft = pytest.importorskip("peft", reason="peft is not installed (pip install peft)")
    torch.manual_seed(0)
    model = Tiny(10, 6)
    theirs = peft.get_peft_model(
        copy.deepcopy(model),
        peft.LoraConfig(r=3, lora_alpha=3, target_modules=["proj"], lora_dropout=0.0),
    )
    trainable, _ = theirs.get_nb_trainable_parameters()
    ours = lora.apply_lora(model, ["proj"], r=3, alpha=3)
    assert lora.count_trainable_parameters(ours) == trainable == 3 * (10 + 6)


# --- properties that need no oracle ---------------------------------------------------

dims = st.integers(1, 9)


@settings(max_examples=30, deadline=None)
@given(d_in=dims, d_out=dims, r=st.integers(1, 6), alpha=st.floats(0.5, 16), seed=st.integers(0, 999))
def test_equals_base_at_init(d_in, d_out, r, alpha, seed):
    torch.manual_seed(seed)
    base = nn.Linear(d_in, d_out).double()
    layer = lora.LoRALinear(base, r, alpha)
    x = torch.randn(3, 2, d_in, dtype=torch.float64)
    assert torch.equal(layer(x), base(x))
    assert layer.scaling == pytest.approx(alpha / r)
    assert layer.merged is False
    assert layer.base is base


@settings(max_examples=30, deadline=None)
@given(d_in=dims, d_out=dims, r=st.integers(1, 6), alpha=st.floats(0.5, 16), seed=st.integers(0, 999))
def test_merge_roundtrip(d_in, d_out, r, alpha, seed):
    torch.manual_seed(seed)
    layer = lora.LoRALinear(nn.Linear(d_in, d_out).double(), r, alpha)
    with torch.no_grad():
        layer.lora_B.normal_()
    w0 = layer.base.weight.detach().clone()
    x = torch.randn(4, d_in, dtype=torch.float64)
    y0 = layer(x)
    expected = w0 + (alpha / r) * layer.lora_B.detach() @ layer.lora_A.detach()
    layer.merge()
    assert layer.merged is True
    torch.testing.assert_close(layer.base.weight, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer(x), y0, rtol=1e-10, atol=1e-10)
    layer.merge()                                           # second merge: no-op
    torch.testing.assert_close(layer.base.weight, expected, rtol=1e-12, atol=1e-12)
    layer.unmerge()
    assert layer.merged is False
    torch.testing.assert_close(layer.base.weight, w0, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(layer(x), y0, rtol=1e-10, atol=1e-10)
    layer.unmerge()                                         # second unmerge: no-op
    torch.testing.assert_close(layer.base.weight, w0, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_trainable(dtype):
    layer = lora.LoRALinear(nn.Linear(6, 4).to(dtype), 2, 4.0)
    assert layer.lora_A.dtype == layer.lora_B.dtype == dtype
    x = torch.randn(3, 6, dtype=dtype)
    x0 = x.clone()
    assert layer(x).dtype == dtype
    assert torch.equal(x, x0)
    trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
    assert trainable == {"lora_A", "lora_B"}
    layer(x).sum().backward()
    assert layer.base.weight.grad is None and layer.lora_B.grad is not None


@pytest.mark.parametrize("r", [0, -1])
def test_bad_rank(r):
    with pytest.raises(ValueError):
        lora.LoRALinear(nn.Linear(3, 3), r)
    with pytest.raises(ValueError):
        lora.apply_lora(Tiny(3, 3), ["proj"], r)


class Attn(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d)
        self.o_proj = nn.Linear(d, d)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attn = Attn(d)
        self.ln = nn.LayerNorm(d)
        self.up = nn.Linear(d, 2 * d)
        self.q_proj = nn.Identity()          # right name, not a Linear: must stay as it is


class Net(nn.Module):
    def __init__(self, d=6, v=11):
        super().__init__()
        self.emb = nn.Embedding(v, d)
        self.blocks = nn.ModuleList([Block(d) for _ in range(2)])
        self.head = nn.Linear(d, v, bias=False)
        self.head.weight = self.emb.weight   # tied

    def forward(self, ids):
        h = self.emb(ids)
        for b in self.blocks:
            a = b.attn
            h = b.ln(h + a.o_proj(a.v_proj(h) + a.q_proj(h) + a.k_proj(h)))
        return self.head(h)


def test_apply_lora_wraps_exactly_named_layers():
    torch.manual_seed(0)
    net = Net()
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    before = net(ids)
    out = lora.apply_lora(net, ["q_proj", "v_proj"], r=2, alpha=4.0)
    assert out is net
    wrapped = sorted(n for n, m in net.named_modules() if isinstance(m, lora.LoRALinear))
    assert wrapped == [f"blocks.{i}.attn.{p}" for i in range(2) for p in ("q_proj", "v_proj")]
    for b in net.blocks:
        assert isinstance(b.q_proj, nn.Identity)
        assert isinstance(b.attn.k_proj, nn.Linear) and isinstance(b.up, nn.Linear)
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    assert lora.count_trainable_parameters(net) == 4 * 2 * (6 + 6)
    torch.testing.assert_close(net(ids), before)
    assert lora.apply_lora(Net(), "q_proj", r=1) is not None   # a single name works
    assert lora.count_trainable_parameters(lora.apply_lora(Net(), "q_proj", r=1)) == 2 * 12


def test_count_trainable_counts_shared_once():
    net = Net(d=6, v=11)
    total = sum(p.numel() for p in net.parameters())
    assert lora.count_trainable_parameters(net) == total
    assert total < sum(p.numel() for _, p in net.named_parameters(remove_duplicate=False))
    net.blocks.requires_grad_(False)
    assert lora.count_trainable_parameters(net) == 11 * 6
