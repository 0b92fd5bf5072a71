"""The positional reference against code nobody on the team wrote.

Oracles: transformers' Llama rotate_half / apply_rotary_pos_emb / LlamaRotaryEmbedding
(skipped with a reason when transformers is missing), a direct numpy evaluation of the
sinusoidal formula, and the two properties that make RoPE what it is: rotations keep
norms, and q·k depends only on the distance between positions.
"""

from __future__ import annotations

import numpy as np
import positional
import pytest
import torch

TOL = {"rtol": 1e-12, "atol": 1e-12}


def llama():
    return pytest.importorskip(
        "transformers.models.llama.modeling_llama",
        reason="transformers is an optional dev dependency (pip install transformers)",
    )


def rope_cos_sin(positions, d, base=10000.0):
    inv_freq = 1.0 / base ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    freqs = positions.to(torch.float64)[:, None] * inv_freq
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


# ---------------------------------------------------------------- sinusoidal_positions


@pytest.mark.parametrize("L,D,base", [(1, 2, 10000.0), (7, 6, 10000.0), (50, 16, 10000.0), (9, 8, 100.0)])
def test_sinusoidal_matches_numpy_formula(L, D, base):
    pe = positional.sinusoidal_positions(L, D, base=base)
    assert pe.shape == (L, D) and pe.dtype == torch.get_default_dtype()
    want = np.zeros((L, D))
    for p in range(L):
        for i in range(D // 2):
            want[p, 2 * i] = np.sin(p / base ** (2 * i / D))
            want[p, 2 * i + 1] = np.cos(p / base ** (2 * i / D))
    np.testing.assert_allclose(pe.double().numpy(), want, rtol=1e-6, atol=1e-6)


def test_sinusoidal_follows_default_dtype():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        pe = positional.sinusoidal_positions(300, 10)
    finally:
        torch.set_default_dtype(old)
    assert pe.dtype == torch.float64
    p, i = np.arange(300)[:, None], np.arange(5)[None, :]
    np.testing.assert_allclose(pe[:, 0::2].numpy(), np.sin(p / 10000.0 ** (2 * i / 10)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(pe[:, 1::2].numpy(), np.cos(p / 10000.0 ** (2 * i / 10)), rtol=0, atol=1e-12)


def test_sinusoidal_edge_and_invalid():
    assert positional.sinusoidal_positions(0, 4).shape == (0, 4)
    for D in [1, 5]:
        with pytest.raises(ValueError):
            positional.sinusoidal_positions(3, D)


# ---------------------------------------------------------------- LearnedPositionalEmbedding


def test_learned_positional_embedding_adds_first_rows():
    torch.manual_seed(0)
    m = positional.LearnedPositionalEmbedding(10, 6).double()
    assert m.weight.shape == (10, 6) and isinstance(m.weight, torch.nn.Parameter)
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    x0 = x.clone()
    out = m(x)
    torch.testing.assert_close(out, x + m.weight[:4].detach().expand(3, 4, 6), **TOL)
    assert torch.equal(x, x0)
    torch.testing.assert_close(m(torch.zeros(1, 10, 6, dtype=torch.float64))[0], m.weight.detach(), **TOL)
    out.sum().backward()
    assert torch.equal(m.weight.grad[:4], torch.full((4, 6), 3.0, dtype=torch.float64))
    assert m.weight.grad[4:].abs().sum() == 0
    with pytest.raises(ValueError):
        m(torch.zeros(1, 11, 6, dtype=torch.float64))


# ---------------------------------------------------------------- apply_rope


def test_rope_matches_transformers_apply_rotary_pos_emb():
    ml = llama()
    torch.manual_seed(1)
    B, H, L, d = 2, 3, 5, 8
    q = torch.randn(B, H, L, d, dtype=torch.float64)
    k = torch.randn(B, H, L, d, dtype=torch.float64)
    pos = torch.arange(L)
    cos, sin = rope_cos_sin(pos, d)
    want_q, want_k = ml.apply_rotary_pos_emb(q, k, cos[None], sin[None], unsqueeze_dim=1)
    torch.testing.assert_close(positional.apply_rope(q), want_q, **TOL)
    torch.testing.assert_close(positional.apply_rope(k, pos), want_k, **TOL)
    # custom (shifted, non-monotone) positions and another base
    pos2 = torch.tensor([7, 3, 0, 12, 100])
    cos2, sin2 = rope_cos_sin(pos2, d, base=500.0)
    want_q2, _ = ml.apply_rotary_pos_emb(q, k, cos2[None], sin2[None])
    torch.testing.assert_close(positional.apply_rope(q, pos2, base=500.0), want_q2, **TOL)


@pytest.mark.parametrize("theta", [10000.0, 500.0])
def test_rope_matches_llama_rotary_embedding_float32(theta):
    ml = llama()
    from transformers import LlamaConfig

    d, H = 16, 2
    cfg = LlamaConfig(hidden_size=d * H, num_attention_heads=H, num_key_value_heads=H,
                      max_position_embeddings=64, rope_theta=theta)
    if getattr(cfg, "rope_parameters", None) is not None:
        cfg.rope_parameters["rope_theta"] = theta
    rot = ml.LlamaRotaryEmbedding(cfg)
    torch.manual_seed(2)
    q = torch.randn(1, H, 20, d)
    pos = torch.arange(20)[None]
    cos, sin = rot(q, pos)
    want, _ = ml.apply_rotary_pos_emb(q, q, cos, sin)
    out = positional.apply_rope(q, base=theta)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)


def test_rope_keeps_norms_and_depends_only_on_distance():
    torch.manual_seed(3)
    d = 12
    x = torch.randn(4, 9, d, dtype=torch.float64)
    x0 = x.clone()
    out = positional.apply_rope(x)
    assert torch.equal(x, x0)
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1), **TOL)
    # position 0 is the identity
    torch.testing.assert_close(out[:, 0], x[:, 0], **TOL)
    q, k = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    for m, n, s in [(3, 1, 5), (0, 7, 2), (10, 10, 4)]:
        a = positional.apply_rope(torch.stack([q, k]), torch.tensor([m, n]))
        b = positional.apply_rope(torch.stack([q, k]), torch.tensor([m + s, n + s]))
        torch.testing.assert_close(a[0] @ a[1], b[0] @ b[1], rtol=1e-10, atol=1e-10)


def test_rope_pairs_j_with_j_plus_half():
    # only features 0 and d/2 set: the rotation stays inside that pair
    d = 8
    x = torch.zeros(1, 2, d, dtype=torch.float64)
    x[..., 0], x[..., d // 2] = 1.0, 2.0
    out = positional.apply_rope(x)
    mask = torch.ones(d, dtype=torch.bool)
    mask[[0, d // 2]] = False
    assert out[..., mask].abs().max() == 0
    c, s = np.cos(1.0), np.sin(1.0)   # position 1, inv_freq[0] = 1
    torch.testing.assert_close(out[0, 1, [0, d // 2]],
                               torch.tensor([c - 2 * s, 2 * c + s], dtype=torch.float64), **TOL)


def test_rope_invalid():
    with pytest.raises(ValueError):
        positional.apply_rope(torch.randn(2, 3, 5))
    with pytest.raises(ValueError):
        positional.apply_rope(torch.randn(2, 3, 4), torch.arange(4))
