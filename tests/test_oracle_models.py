"""Oracle tests for solutions/models.py (MiniBERT, MiniGPT, to_hf_gpt2_state_dict).

Oracles nobody on the team wrote:
- Hugging Face ``transformers.GPT2LMHeadModel`` loaded with ``to_hf_gpt2_state_dict``
  (skipped, with the reason shown, when transformers is not installed);
- ``nn.TransformerEncoderLayer`` stacks with copied weights: post-LN with
  ``src_key_padding_mask`` for MiniBERT, pre-LN (``norm_first=True``) with a causal
  ``src_mask`` for MiniGPT (torch's boolean masks mean the opposite: True = blocked).
Plus properties: causality, padding invariance, greedy generation.
"""

from __future__ import annotations

import models
import pytest
import torch
import torch.nn.functional as F
from torch import nn

V, MAX_LEN, D, H, N, DFF = 13, 10, 12, 3, 2, 20
B = 3


def _randomize(model: nn.Module, seed: int) -> nn.Module:
    """Every parameter random (LayerNorm weights not 1, biases not 0) so that mistakes show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * 0.5)
    return model


def make_gpt(dtype=torch.float64, seed=0) -> models.MiniGPT:
    torch.manual_seed(seed)
    return _randomize(models.MiniGPT(V, MAX_LEN, D, H, N, DFF).to(dtype), seed)


def make_bert(dtype=torch.float64, seed=0) -> models.MiniBERT:
    torch.manual_seed(seed)
    return _randomize(models.MiniBERT(V, MAX_LEN, D, H, N, DFF).to(dtype), seed)


def rand_ids(b: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(V, (b, length), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- structure


def test_submodule_names_and_tied_head():
    gpt, bert = make_gpt(), make_bert()
    for m in (gpt, bert):
        assert m.lm_head.proj.weight is m.tok_emb.weight
        assert isinstance(m.tok_emb, nn.Embedding) and isinstance(m.pos_emb, nn.Embedding)
        assert m.pos_emb.weight.shape == (MAX_LEN, D)
        assert len(m.blocks) == N
    assert isinstance(bert.ln_emb, nn.LayerNorm) and not hasattr(bert, "ln_f")
    assert isinstance(gpt.ln_f, nn.LayerNorm) and not hasattr(gpt, "ln_emb")
    keys = set(gpt.state_dict())
    for k in ("blocks.1.ln1.weight", "blocks.1.attn.q_proj.weight", "blocks.1.ffn.up.weight",
              "blocks.1.ln2.bias", "ln_f.weight", "lm_head.proj.weight"):
        assert k in keys
    # parameters counted once: the head adds no parameters of its own
    n_gpt = sum(p.numel() for p in gpt.parameters())
    n_block = sum(p.numel() for p in gpt.blocks[0].parameters())
    assert n_gpt == V * D + MAX_LEN * D + N * n_block + 2 * D


def test_too_long_is_invalid():
    gpt, bert = make_gpt(), make_bert()
    ids = rand_ids(2, MAX_LEN + 1)
    with pytest.raises(ValueError):
        gpt(ids)
    with pytest.raises(ValueError):
        bert(ids)
    with pytest.raises(ValueError):
        bert.encode(ids)
    assert gpt(ids[:, :MAX_LEN]).shape == (2, MAX_LEN, V)       # exactly max_len is fine


# ---------------------------------------------------------------- torch oracles


def _torch_layer(block, norm_first: bool) -> nn.TransformerEncoderLayer:
    layer = nn.TransformerEncoderLayer(
        D, H, dim_feedforward=DFF, dropout=0.0, activation="gelu", batch_first=True,
        norm_first=norm_first, dtype=torch.float64,
    )
    a = block.attn
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]))
        layer.self_attn.in_proj_bias.copy_(torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]))
        layer.self_attn.out_proj.weight.copy_(a.o_proj.weight)
        layer.self_attn.out_proj.bias.copy_(a.o_proj.bias)
        layer.linear1.weight.copy_(block.ffn.up.weight)
        layer.linear1.bias.copy_(block.ffn.up.bias)
        layer.linear2.weight.copy_(block.ffn.down.weight)
        layer.linear2.bias.copy_(block.ffn.down.bias)
        for ours, theirs in ((block.ln1, layer.norm1), (block.ln2, layer.norm2)):
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    return layer.train()    # training mode (dropout 0) keeps torch off its fused fast path


def test_minibert_matches_torch_encoder_layers():
    bert = make_bert()
    L = 7
    ids = rand_ids(B, L)
    lengths = torch.tensor([7, 4, 1])
    mask = torch.arange(L)[None, :] < lengths[:, None]
    with torch.no_grad():
        x = bert.tok_emb.weight[ids] + bert.pos_emb.weight[:L]
        x = F.layer_norm(x, (D,), bert.ln_emb.weight, bert.ln_emb.bias, 1e-5)
        for block in bert.blocks:
            x = _torch_layer(block, norm_first=False)(x, src_key_padding_mask=~mask)
        expected = x @ bert.tok_emb.weight.T
        hidden = bert.encode(ids, mask)
        logits = bert(ids, mask)
    torch.testing.assert_close(hidden, x, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(logits, expected, rtol=1e-10, atol=1e-10)


def test_minigpt_matches_torch_pre_ln_layers():
    gpt = make_gpt()
    L = MAX_LEN
    ids = rand_ids(B, L)
    blocked = torch.ones(L, L, dtype=torch.bool).triu(1)    # torch: True = may NOT attend
    with torch.no_grad():
        x = gpt.tok_emb.weight[ids] + gpt.pos_emb.weight[:L]
        for block in gpt.blocks:
            x = _torch_layer(block, norm_first=True)(x, src_mask=blocked)
        x = F.layer_norm(x, (D,), gpt.ln_f.weight, gpt.ln_f.bias, 1e-5)
        expected = x @ gpt.tok_emb.weight.T
        logits = gpt(ids)
    torch.testing.assert_close(logits, expected, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- properties


def test_minigpt_is_causal():
    gpt = make_gpt()
    ids = rand_ids(B, 8)
    with torch.no_grad():
        base = gpt(ids)
        for t in range(7):
            changed = ids.clone()
            changed[:, t + 1:] = (changed[:, t + 1:] + 1) % V
            out = gpt(changed)
            torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=1e-12)
            assert not torch.allclose(out[:, t + 1:], base[:, t + 1:])


def test_minibert_is_bidirectional_and_padding_invariant():
    bert = make_bert()
    L = 8
    ids = rand_ids(B, L)
    lengths = torch.tensor([8, 5, 2])
    mask = torch.arange(L)[None, :] < lengths[:, None]
    with torch.no_grad():
        out = bert(ids, mask)
        # the ids at padding positions do not matter
        other = torch.where(mask, ids, (ids + 3) % V)
        torch.testing.assert_close(bert(other, mask)[mask], out[mask], rtol=0, atol=1e-12)
        # a padded row equals the same sentence run alone, without padding
        for b, n in enumerate(lengths.tolist()):
            alone = bert(ids[b:b + 1, :n])
            torch.testing.assert_close(out[b:b + 1, :n], alone, rtol=1e-10, atol=1e-10)
        # bidirectional: changing the last token changes the first position's logits
        later = ids.clone()
        later[:, -1] = (later[:, -1] + 1) % V
        assert not torch.allclose(bert(later)[:, 0], bert(ids)[:, 0])
        # no mask == all-True mask
        torch.testing.assert_close(bert(ids), bert(ids, torch.ones(B, L, dtype=torch.bool)))


def test_inputs_not_modified_and_dtype_kept():
    for dtype in (torch.float32, torch.float64):
        gpt, bert = make_gpt(dtype), make_bert(dtype)
        ids = rand_ids(B, 6)
        keep = ids.clone()
        mask = torch.ones(B, 6, dtype=torch.bool)
        mask[1, 4:] = False
        mask_keep = mask.clone()
        assert gpt(ids).dtype == dtype and bert(ids, mask).dtype == dtype
        gpt.generate(ids, 3)
        assert torch.equal(ids, keep) and torch.equal(mask, mask_keep)


# ---------------------------------------------------------------- generate


def test_generate_greedy_is_deterministic_and_has_the_right_length():
    gpt = make_gpt()
    ids = rand_ids(B, 4)
    out1 = gpt.generate(ids, 5)
    out2 = gpt.generate(ids, 5, temperature=0.0)
    assert out1.shape == (B, 9) and out1.dtype == torch.long
    assert torch.equal(out1, out2)
    assert torch.equal(out1[:, :4], ids)
    assert torch.equal(gpt.generate(ids, 0), ids)
    with pytest.raises(ValueError):
        gpt.generate(ids, -1)


def test_generate_crops_the_context_to_max_len():
    gpt = make_gpt()
    L0, new = MAX_LEN - 2, 6                   # runs 4 tokens past max_len
    ids = rand_ids(B, L0)
    out = gpt.generate(ids, new)
    assert out.shape == (B, L0 + new)
    with torch.no_grad():
        for j in range(L0, L0 + new):
            context = out[:, max(0, j - MAX_LEN):j]
            assert torch.equal(out[:, j], gpt(context)[:, -1].argmax(-1))
    # a prompt longer than max_len works too
    long_ids = rand_ids(B, MAX_LEN + 3)
    assert gpt.generate(long_ids, 2).shape == (B, MAX_LEN + 5)


def test_generate_feeds_the_last_max_len_tokens():
    """Spy on forward: every call sees exactly the last min(len, max_len) tokens."""
    gpt = make_gpt()
    seen = []
    forward = gpt.forward

    def spy(ids):
        seen.append(ids.clone())
        return forward(ids)

    gpt.forward = spy
    ids = rand_ids(B, MAX_LEN - 2)
    out = gpt.generate(ids, 6, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert len(seen) == 6
    for step, context in enumerate(seen):
        j = MAX_LEN - 2 + step                     # tokens known before this step
        assert torch.equal(context, out[:, max(0, j - MAX_LEN):j])


def test_generate_sampling_matches_a_step_by_step_loop():
    """Sampling past max_len equals sample_next_token on the cropped context, draw for draw.

    A random model's greedy continuation soon repeats one token, which hides cropping
    mistakes; sampling at a high temperature keeps the contexts apart.
    """
    import heads

    gpt = make_gpt()
    ids = rand_ids(32, MAX_LEN - 2, seed=3)
    new = 8
    out = gpt.generate(ids, new, temperature=3.0, generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    expected = ids
    with torch.no_grad():
        for _ in range(new):
            logits = gpt(expected[:, -MAX_LEN:])[:, -1]
            nxt = heads.sample_next_token(logits, temperature=3.0, generator=g)
            expected = torch.cat([expected, nxt[:, None]], dim=1)
    assert torch.equal(out, expected)


def test_generate_sampling_uses_the_generator():
    gpt = make_gpt()
    ids = rand_ids(B, 3)
    a = gpt.generate(ids, 6, temperature=1.0, generator=torch.Generator().manual_seed(5))
    b = gpt.generate(ids, 6, temperature=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() < V
    c = gpt.generate(ids, 6, temperature=1.0, top_k=1, generator=torch.Generator().manual_seed(7))
    assert torch.equal(c, gpt.generate(ids, 6))          # top_k = 1 is greedy


# ---------------------------------------------------------------- Hugging Face GPT-2


def _hf_gpt2(dtype):
    transformers = pytest.importorskip(
        "transformers", reason="transformers is not installed: the GPT-2 export oracle needs it"
    )
    config = transformers.GPT2Config(
        activation_function="gelu", n_positions=MAX_LEN, n_embd=D, n_head=H, n_layer=N,
        n_inner=DFF, vocab_size=V, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
        bos_token_id=None, eos_token_id=None,
    )
    return transformers.GPT2LMHeadModel(config).to(dtype).eval()


def _load(hf, sd):
    result = hf.load_state_dict(sd, strict=False)
    params = {name for name, _ in hf.named_parameters()}
    buffers = {name for name, _ in hf.named_buffers()}
    assert not result.unexpected_keys, result.unexpected_keys
    # only buffers (old versions keep a causal "attn.bias" buffer) may be missing
    assert set(result.missing_keys) <= buffers, result.missing_keys
    assert not set(result.missing_keys) & params
    assert set(sd) == set(hf.state_dict()) - buffers
    for name, p in hf.named_parameters():
        assert torch.equal(p, sd[name]), name


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-5)])
def test_hf_gpt2_gives_the_same_logits(dtype, tol):
    hf = _hf_gpt2(dtype)
    gpt = make_gpt(dtype)
    sd = models.to_hf_gpt2_state_dict(gpt)
    assert sd["transformer.h.0.attn.c_attn.weight"].shape == (D, 3 * D)
    assert sd["transformer.h.0.mlp.c_fc.weight"].shape == (D, DFF)
    assert sd["transformer.h.0.mlp.c_proj.weight"].shape == (DFF, D)
    assert all(t.is_contiguous() and not t.requires_grad for t in sd.values())
    _load(hf, sd)
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()
    with torch.no_grad():
        for L in (1, 5, MAX_LEN):
            ids = rand_ids(B, L, seed=L)
            torch.testing.assert_close(hf(ids).logits, gpt(ids), rtol=tol, atol=tol)


def test_hf_export_is_a_copy():
    gpt = make_gpt()
    before = {k: v.clone() for k, v in gpt.state_dict().items()}
    sd = models.to_hf_gpt2_state_dict(gpt)
    for t in sd.values():
        t.zero_()
    for k, v in gpt.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_generate_matches_hf_greedy_generate():
    hf = _hf_gpt2(torch.float64)
    gpt = make_gpt()
    _load(hf, models.to_hf_gpt2_state_dict(gpt))
    ids = rand_ids(B, 3)
    new = MAX_LEN - 3
    with torch.no_grad():
        expected = hf.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, do_sample=False,
            pad_token_id=0,
        )
    assert torch.equal(gpt.generate(ids, new), expected)
