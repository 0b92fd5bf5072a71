"""The multihead reference against code nobody on the team wrote.

Oracles: torch.nn.MultiheadAttention (batch_first=True) with copied weights (its boolean
masks mean True = blocked, the opposite of ours), torch.nn.functional.
scaled_dot_product_attention per head (with enable_gqa for grouped-query attention), and
transformers' Llama repeat_kv.
"""

from __future__ import annotations

import multihead
import pytest
import torch
import torch.nn.functional as F
from torch import nn

TOL = {"rtol": 1e-10, "atol": 1e-12}


def copy_into_torch_mha(mha: multihead.MultiHeadAttention, d: int, h: int) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(d, h, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        ref.out_proj.weight.copy_(mha.o_proj.weight)
        ref.out_proj.bias.copy_(mha.o_proj.bias)
    return ref.eval()


def make_mha(d=12, h=3, bias=True, seed=0):
    torch.manual_seed(seed)
    return multihead.MultiHeadAttention(d, h, bias=bias).double()


def test_split_merge_layout_and_roundtrip():
    B, L, H, dh = 2, 5, 3, 4
    x = torch.randn(B, L, H * dh, dtype=torch.float64)
    s = multihead.split_heads(x, H)
    assert s.shape == (B, H, L, dh)
    for h in range(H):
        torch.testing.assert_close(s[:, h], x[..., h * dh : (h + 1) * dh], rtol=0, atol=0)
    torch.testing.assert_close(multihead.merge_heads(s), x, rtol=0, atol=0)
    # merge on a non-contiguous input
    y = torch.randn(B, L, H, dh, dtype=torch.float64).transpose(1, 2)
    torch.testing.assert_close(multihead.merge_heads(y), y.transpose(1, 2).reshape(B, L, H * dh))


def test_self_attention_equals_torch_mha_no_mask():
    d, h = 12, 3
    mha = make_mha(d, h)
    ref = copy_into_torch_mha(mha, d, h)
    x = torch.randn(2, 5, d, dtype=torch.float64)
    out, probs = mha(x, need_weights=True)
    want, want_p = ref(x, x, x, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(probs, want_p, **TOL)
    assert probs.shape == (2, h, 5, 5)
    torch.testing.assert_close(mha(x), want, **TOL)


def test_self_attention_causal_mask_equals_torch_mha():
    d, h, L = 8, 2, 6
    mha = make_mha(d, h, seed=1)
    ref = copy_into_torch_mha(mha, d, h)
    x = torch.randn(3, L, d, dtype=torch.float64)
    allowed = torch.ones(L, L, dtype=torch.bool).tril()
    out, probs = mha(x, mask=allowed, need_weights=True)
    want, want_p = ref(x, x, x, attn_mask=~allowed, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(probs, want_p, **TOL)
    assert (probs[..., ~allowed] == 0).all()


def test_cross_attention_with_key_padding_equals_torch_mha():
    d, h, B, Lq, Lk = 12, 4, 3, 4, 7
    mha = make_mha(d, h, seed=2)
    ref = copy_into_torch_mha(mha, d, h)
    x = torch.randn(B, Lq, d, dtype=torch.float64)
    mem = torch.randn(B, Lk, d, dtype=torch.float64)
    lengths = torch.tensor([7, 3, 5])
    real = torch.arange(Lk) < lengths[:, None]  # (B, Lk), True = real key
    out, probs = mha(x, kv=mem, mask=real[:, None, None, :], need_weights=True)
    want, want_p = ref(
        x, mem, mem, key_padding_mask=~real, need_weights=True, average_attn_weights=False
    )
    assert out.shape == (B, Lq, d) and probs.shape == (B, h, Lq, Lk)
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(probs, want_p, **TOL)


def test_per_head_mask_equals_torch_mha_3d_mask():
    d, h, B, L = 8, 2, 2, 5
    mha = make_mha(d, h, seed=3)
    ref = copy_into_torch_mha(mha, d, h)
    x = torch.randn(B, L, d, dtype=torch.float64)
    allowed = torch.rand(B, h, L, L) > 0.4
    allowed[..., 0] = True  # no fully masked query row
    out = mha(x, mask=allowed)
    # nn.MultiheadAttention takes a per-head mask as (B*H, L, L), True = blocked
    want, _ = ref(x, x, x, attn_mask=~allowed.reshape(B * h, L, L), need_weights=False)
    torch.testing.assert_close(out, want, **TOL)


def test_equals_sdpa_per_head_without_bias():
    d, h, B, Lq, Lk = 12, 3, 2, 4, 6
    mha = make_mha(d, h, bias=False, seed=4)
    x = torch.randn(B, Lq, d, dtype=torch.float64)
    mem = torch.randn(B, Lk, d, dtype=torch.float64)
    allowed = torch.rand(Lq, Lk) > 0.3
    allowed[:, 0] = True
    dh = d // h
    q = (x @ mha.q_proj.weight.T).view(B, Lq, h, dh).transpose(1, 2)
    k = (mem @ mha.k_proj.weight.T).view(B, Lk, h, dh).transpose(1, 2)
    v = (mem @ mha.v_proj.weight.T).view(B, Lk, h, dh).transpose(1, 2)
    heads = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    want = heads.transpose(1, 2).reshape(B, Lq, d) @ mha.o_proj.weight.T
    torch.testing.assert_close(mha(x, kv=mem, mask=allowed), want, **TOL)


def test_float32_kept_and_input_untouched():
    torch.manual_seed(5)
    mha = multihead.MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8)
    x0 = x.clone()
    out, probs = mha(x, need_weights=True)
    assert out.dtype == torch.float32 and probs.dtype == torch.float32
    torch.testing.assert_close(x, x0, rtol=0, atol=0)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        multihead.MultiHeadAttention(10, 3)
    with pytest.raises(ValueError):
        multihead.GroupedQueryAttention(12, 4, 3)
    with pytest.raises(ValueError):
        multihead.GroupedQueryAttention(10, 4, 2)
    with pytest.raises(ValueError):
        multihead.split_heads(torch.randn(1, 2, 10), 3)


def test_repeat_kv_equals_transformers():
    llama = pytest.importorskip(
        "transformers.models.llama.modeling_llama",
        reason="transformers is not installed (optional dev dependency): repeat_kv oracle skipped",
    )
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    for n_rep in (1, 2, 4):
        got = multihead.repeat_kv(x, n_rep)
        torch.testing.assert_close(got, llama.repeat_kv(x, n_rep), rtol=0, atol=0)


def test_repeat_kv_head_order():
    x = torch.arange(3, dtype=torch.float64).view(1, 3, 1, 1)
    assert multihead.repeat_kv(x, 2).flatten().tolist() == [0, 0, 1, 1, 2, 2]


def test_gqa_with_all_kv_heads_equals_mha_without_bias():
    d, h = 12, 3
    torch.manual_seed(6)
    gqa = multihead.GroupedQueryAttention(d, h, h).double()
    mha = multihead.MultiHeadAttention(d, h, bias=False).double()
    mha.load_state_dict(gqa.state_dict())
    x = torch.randn(2, 5, d, dtype=torch.float64)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    torch.testing.assert_close(gqa(x, mask=causal), mha(x, mask=causal), **TOL)


@pytest.mark.parametrize("n_kv", [1, 2])
def test_gqa_equals_sdpa_enable_gqa(n_kv):
    d, h, B, L = 16, 4, 2, 5
    torch.manual_seed(7 + n_kv)
    gqa = multihead.GroupedQueryAttention(d, h, n_kv).double()
    assert gqa.k_proj.weight.shape == (n_kv * d // h, d)
    x = torch.randn(B, L, d, dtype=torch.float64)
    allowed = torch.ones(L, L, dtype=torch.bool).tril()
    dh = d // h
    q = gqa.q_proj(x).view(B, L, h, dh).transpose(1, 2)
    k = gqa.k_proj(x).view(B, L, n_kv, dh).transpose(1, 2)
    v = gqa.v_proj(x).view(B, L, n_kv, dh).transpose(1, 2)
    heads = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, enable_gqa=True)
    want = gqa.o_proj(heads.transpose(1, 2).reshape(B, L, d))
    torch.testing.assert_close(gqa(x, mask=allowed), want, **TOL)
