"""The blocks reference against F.layer_norm and nn.TransformerEncoderLayer /
nn.TransformerDecoderLayer (norm_first=False, dropout=0, batch_first=True) with copied
weights. Torch's boolean masks mean True = blocked, ours True = may attend.
"""

from __future__ import annotations

import blocks
import pytest
import torch
import torch.nn.functional as F
from torch import nn

TOL = {"rtol": 1e-9, "atol": 1e-11}


def copy_attn(ref: nn.MultiheadAttention, mha) -> None:
    ref.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
    ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
    ref.out_proj.weight.copy_(mha.o_proj.weight)
    ref.out_proj.bias.copy_(mha.o_proj.bias)


def copy_ln(ref: nn.LayerNorm, ln: nn.LayerNorm) -> None:
    ref.weight.copy_(ln.weight)
    ref.bias.copy_(ln.bias)


def randomise(module: nn.Module) -> nn.Module:
    """LayerNorm weights start at 1 / 0; make them random so a swapped norm shows."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.ndim == 1 else 0.0))
    return module


def test_layer_norm_equals_functional():
    x = torch.randn(2, 3, 7, dtype=torch.float64) * 3 + 1
    w = torch.randn(7, dtype=torch.float64)
    b = torch.randn(7, dtype=torch.float64)
    for eps in (1e-5, 0.5):
        want = F.layer_norm(x, (7,), w, b, eps)
        torch.testing.assert_close(blocks.layer_norm(x, w, b, eps), want, rtol=1e-12, atol=1e-12)
    # small variance: eps placement matters
    tiny = torch.randn(4, 5, dtype=torch.float64) * 1e-3
    one, zero = torch.ones(5, dtype=torch.float64), torch.zeros(5, dtype=torch.float64)
    torch.testing.assert_close(
        blocks.layer_norm(tiny, one, zero), F.layer_norm(tiny, (5,), one, zero), rtol=1e-10, atol=1e-12
    )


def test_layer_norm_keeps_float32():
    x = torch.randn(3, 4)
    assert blocks.layer_norm(x, torch.ones(4), torch.zeros(4)).dtype == torch.float32


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_equals_transformer_encoder_layer(activation):
    d, h, d_ff, B, L = 12, 3, 20, 3, 5
    torch.manual_seed(0)
    blk = randomise(blocks.EncoderBlock(d, h, d_ff, activation=activation).double())
    ref = nn.TransformerEncoderLayer(
        d, h, d_ff, dropout=0.0, activation=activation, batch_first=True, norm_first=False,
        dtype=torch.float64,
    )
    with torch.no_grad():
        copy_attn(ref.self_attn, blk.attn)
        ref.linear1.weight.copy_(blk.ffn.up.weight)
        ref.linear1.bias.copy_(blk.ffn.up.bias)
        ref.linear2.weight.copy_(blk.ffn.down.weight)
        ref.linear2.bias.copy_(blk.ffn.down.bias)
        copy_ln(ref.norm1, blk.ln1)
        copy_ln(ref.norm2, blk.ln2)
    ref.eval()
    x = torch.randn(B, L, d, dtype=torch.float64)
    torch.testing.assert_close(blk(x), ref(x), **TOL)
    real = torch.arange(L) < torch.tensor([5, 2, 4])[:, None]  # (B, L)
    got = blk(x, mask=real[:, None, None, :])
    want = ref(x, src_key_padding_mask=~real)
    # torch's nested-tensor fast path may zero padded query rows; compare the real ones
    torch.testing.assert_close(got[real], want[real], **TOL)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_seq2seq_decoder_block_equals_transformer_decoder_layer(activation):
    d, h, d_ff, B, Lq, Lk = 8, 2, 16, 3, 4, 6
    torch.manual_seed(1)
    blk = randomise(blocks.Seq2SeqDecoderBlock(d, h, d_ff, activation=activation).double())
    ref = nn.TransformerDecoderLayer(
        d, h, d_ff, dropout=0.0, activation=activation, batch_first=True, norm_first=False,
        dtype=torch.float64,
    )
    with torch.no_grad():
        copy_attn(ref.self_attn, blk.self_attn)
        copy_attn(ref.multihead_attn, blk.cross_attn)
        ref.linear1.weight.copy_(blk.ffn.up.weight)
        ref.linear1.bias.copy_(blk.ffn.up.bias)
        ref.linear2.weight.copy_(blk.ffn.down.weight)
        ref.linear2.bias.copy_(blk.ffn.down.bias)
        copy_ln(ref.norm1, blk.ln1)
        copy_ln(ref.norm2, blk.ln2)
        copy_ln(ref.norm3, blk.ln3)
    ref.eval()
    x = torch.randn(B, Lq, d, dtype=torch.float64)
    mem = torch.randn(B, Lk, d, dtype=torch.float64)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(Lq, dtype=torch.float64)
    real = torch.arange(Lk) < torch.tensor([6, 1, 4])[:, None]  # (B, Lk)
    got = blk(x, mem, memory_mask=real[:, None, None, :])
    want = ref(x, mem, tgt_mask=tgt_mask, tgt_is_causal=True, memory_key_padding_mask=~real)
    torch.testing.assert_close(got, want, **TOL)
    torch.testing.assert_close(blk(x, mem), ref(x, mem, tgt_mask=tgt_mask), **TOL)


def test_decoder_block_matches_manual_pre_ln_and_is_causal():
    d, h, B, L = 8, 2, 2, 6
    torch.manual_seed(2)
    blk = randomise(blocks.DecoderBlock(d, h, activation="gelu").double())
    ref = nn.MultiheadAttention(d, h, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        copy_attn(ref, blk.attn)
    x = torch.randn(B, L, d, dtype=torch.float64)
    blocked = torch.ones(L, L, dtype=torch.bool).triu(1)
    a = F.layer_norm(x, (d,), blk.ln1.weight, blk.ln1.bias)
    y = x + ref(a, a, a, attn_mask=blocked, need_weights=False)[0]
    m = F.layer_norm(y, (d,), blk.ln2.weight, blk.ln2.bias)
    want = y + F.linear(F.gelu(F.linear(m, blk.ffn.up.weight, blk.ffn.up.bias)),
                        blk.ffn.down.weight, blk.ffn.down.bias)
    torch.testing.assert_close(blk(x), want, **TOL)
    # the future never leaks: change the last token, earlier outputs stay
    x2 = x.clone()
    x2[:, -1] += 1.0
    torch.testing.assert_close(blk(x2)[:, :-1], blk(x)[:, :-1], rtol=0, atol=0)
    # a padding mask is AND-ed with the causal mask
    real = torch.arange(L) < torch.tensor([6, 3])[:, None]
    key_padding = ~real
    y = x + ref(a, a, a, attn_mask=blocked, key_padding_mask=key_padding, need_weights=False)[0]
    m = F.layer_norm(y, (d,), blk.ln2.weight, blk.ln2.bias)
    want = y + F.linear(F.gelu(F.linear(m, blk.ffn.up.weight, blk.ffn.up.bias)),
                        blk.ffn.down.weight, blk.ffn.down.bias)
    torch.testing.assert_close(blk(x, mask=real[:, None, None, :]), want, **TOL)


def test_submodule_names_and_order():
    assert [n for n, _ in blocks.EncoderBlock(8, 2).named_children()] == ["attn", "ln1", "ffn", "ln2"]
    assert [n for n, _ in blocks.DecoderBlock(8, 2).named_children()] == ["ln1", "attn", "ln2", "ffn"]
    assert [n for n, _ in blocks.Seq2SeqDecoderBlock(8, 2).named_children()] == [
        "self_attn", "ln1", "cross_attn", "ln2", "ffn", "ln3"
    ]
    enc = blocks.EncoderBlock(8, 2, eps=1e-3)
    assert enc.ln1.eps == 1e-3 and enc.ffn.up.weight.shape == (32, 8)
