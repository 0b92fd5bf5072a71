"""Oracle tests for solutions/generation.py (KV cache, top-p, repetition penalty, cached
generation, streaming decode).

Oracles nobody on the team wrote (skipped, with the reason shown, when transformers is not
installed):
- 🤗 ``TopPLogitsWarper`` and ``RepetitionPenaltyLogitsProcessor`` on the same scores;
- 🤗 ``GPT2LMHeadModel`` loaded through ``to_hf_gpt2_state_dict``: its ``past_key_values``
  (per layer keys and values [B, H, L, dh]) against our cache, and its
  ``generate(use_cache=True, do_sample=False)`` (greedy, with a repetition penalty, with an
  eos token that finishes rows at different steps) against ``generate_cached``;
- the distribution of the first sampled token against 🤗's own processor chain
  (repetition penalty, temperature, top-k, top-p), by frequencies over 20,000 draws with
  5-sigma bounds (fixed seeds);
- Python's ``codecs`` incremental UTF-8 decoder for the streaming pieces.
Plus the model's own full forward and ``MiniGPT.generate``, in float64.
"""

from __future__ import annotations

import codecs

import generation
import models
import pytest
import torch

V, MAX_LEN, D, H, N, DFF = 13, 12, 12, 3, 2, 20


def make_gpt(seed: int = 0) -> models.MiniGPT:
    torch.manual_seed(seed)
    gpt = models.MiniGPT(V, MAX_LEN, D, H, N, DFF).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in gpt.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.7)
    return gpt.eval()


def rand_ids(b: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(V, (b, length), generator=torch.Generator().manual_seed(seed))


def _transformers():
    return pytest.importorskip("transformers", reason="transformers is not installed: the 🤗 oracles need it")


def _hf_gpt2(gpt: models.MiniGPT):
    transformers = _transformers()
    config = transformers.GPT2Config(
        activation_function="gelu", n_positions=MAX_LEN, n_embd=D, n_head=H, n_layer=N, n_inner=DFF,
        vocab_size=V, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0, bos_token_id=None, eos_token_id=None,
        pad_token_id=None,
    )
    hf = transformers.GPT2LMHeadModel(config).double().eval()
    result = hf.load_state_dict(models.to_hf_gpt2_state_dict(gpt), strict=False)
    assert not result.unexpected_keys
    assert not set(result.missing_keys) & {name for name, _ in hf.named_parameters()}
    return hf


# ---------------------------------------------------------------- forward_with_cache


def test_cached_forward_equals_the_full_forward_over_several_calls():
    gpt = make_gpt()
    ids = rand_ids(3, MAX_LEN)
    with torch.no_grad():
        full = gpt(ids)
        cache, start, got = None, 0, []
        for T in (4, 1, 2, 1, 1, 3):
            logits, cache = generation.forward_with_cache(gpt, ids[:, start:start + T], cache)
            got.append(logits)
            start += T
    assert start == MAX_LEN
    torch.testing.assert_close(torch.cat(got, dim=1), full, rtol=1e-10, atol=1e-10)
    assert len(cache) == N and all(k.shape == v.shape == (3, H, MAX_LEN, D // H) for k, v in cache)
    with pytest.raises(ValueError):
        generation.forward_with_cache(gpt, ids[:, :1], cache)


def test_cache_equals_gpt2_past_key_values():
    gpt = make_gpt(2)
    hf = _hf_gpt2(gpt)
    ids = rand_ids(2, 7, seed=3)
    with torch.no_grad():
        out = hf(ids, use_cache=True)
        logits, cache = generation.forward_with_cache(gpt, ids)
    torch.testing.assert_close(logits, out.logits, rtol=1e-10, atol=1e-10)
    past = out.past_key_values
    for i, (k, v) in enumerate(cache):
        if hasattr(past, "layers"):  # transformers >= 4.56: a Cache with one layer object per block
            hk, hv = past.layers[i].keys, past.layers[i].values
        elif hasattr(past, "key_cache"):
            hk, hv = past.key_cache[i], past.value_cache[i]
        else:  # legacy tuples
            hk, hv = past[i]
        torch.testing.assert_close(k, hk, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(v, hv, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- filters


def _tie_free_scores(b: int, v: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, v, generator=g, dtype=torch.float64) * 2
    assert len(set(z.flatten().tolist())) == z.numel()
    return z.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("top_p", [0.05, 0.3, 0.5, 0.77, 0.9, 0.99])
def test_top_p_matches_transformers(dtype, top_p):
    transformers = _transformers()
    warper = transformers.TopPLogitsWarper(top_p)
    for seed in range(5):
        z = _tie_free_scores(4, 17, seed, dtype)
        z[1, :5] = float("-inf")  # already cut, as after top-k
        want = warper(torch.zeros(4, 1, dtype=torch.long), z.clone())
        got = generation.top_p_filter(z, top_p)
        assert got.dtype == dtype
        assert torch.equal(torch.isinf(got), torch.isinf(want)), (seed, top_p)
        assert torch.equal(got[~torch.isinf(got)], z[~torch.isinf(got)])


def test_top_p_one_keeps_everything_and_bad_values_raise():
    z = torch.tensor([[3.0, -800.0, 0.5]], dtype=torch.float64)
    assert torch.equal(generation.top_p_filter(z, 1.0), z)
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ValueError):
            generation.top_p_filter(z, bad)


@pytest.mark.parametrize("penalty", [1.3, 2.0, 0.6])
def test_repetition_penalty_matches_transformers(penalty):
    transformers = _transformers()
    proc = transformers.RepetitionPenaltyLogitsProcessor(penalty)
    for seed in range(5):
        z = _tie_free_scores(3, 11, seed)
        ids = torch.randint(11, (3, 9), generator=torch.Generator().manual_seed(seed + 10))
        ids[0, :4] = 5  # repeats are penalised once
        before = z.clone()
        got = generation.repetition_penalty(z, ids, penalty)
        assert torch.equal(z, before)
        torch.testing.assert_close(got, proc(ids, z.clone()), rtol=0, atol=0)
    with pytest.raises(ValueError):
        generation.repetition_penalty(z, ids, 0.0)


# ---------------------------------------------------------------- generation


def test_greedy_equals_minigpt_generate():
    gpt = make_gpt(4)
    for L0, n in ((1, 11), (3, 6), (5, 7)):
        ids = rand_ids(3, L0, seed=L0)
        assert torch.equal(generation.generate_cached(gpt, ids, n), gpt.generate(ids, n))
    with pytest.raises(ValueError):
        generation.generate_cached(gpt, rand_ids(2, 5), MAX_LEN - 4)


@pytest.mark.parametrize("penalty", [1.0, 1.4, 0.8])
def test_greedy_equals_gpt2_generate(penalty):
    gpt = make_gpt(5)
    hf = _hf_gpt2(gpt)
    ids = rand_ids(4, 3, seed=6)
    with torch.no_grad():
        want = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False,
                           use_cache=True, repetition_penalty=penalty, pad_token_id=0)
    got = generation.generate_cached(gpt, ids, 8, repetition_penalty=penalty)
    assert torch.equal(got, want)


def test_eos_equals_gpt2_generate():
    gpt = make_gpt(7)
    hf = _hf_gpt2(gpt)
    ids = rand_ids(6, 2, seed=8)
    full = generation.generate_cached(gpt, ids, 9)
    # an eos that some rows produce at different steps (and row 0's prompt contains)
    counts = torch.bincount(full[:, 2:].flatten(), minlength=V)
    eos = int(counts.argmax())
    ids[0, 0] = eos
    with torch.no_grad():
        want = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=9, do_sample=False,
                           use_cache=True, eos_token_id=eos, pad_token_id=eos)
    got = generation.generate_cached(gpt, ids, 9, eos_id=eos)
    assert (got[:, 2:] == eos).any()
    assert torch.equal(got, want)


def test_first_token_distribution_follows_transformers_processors():
    transformers = _transformers()
    gpt = make_gpt(9)
    prompt = torch.tensor([[3, 3, 7, 1]])
    settings = [dict(temperature=0.7, top_k=6, top_p=0.8, repetition_penalty=1.5),
                dict(temperature=1.4, top_k=None, top_p=0.6, repetition_penalty=2.0),
                dict(temperature=1.0, top_k=4, top_p=None, repetition_penalty=0.7)]
    n = 20_000
    with torch.no_grad():
        scores = gpt(prompt)[:, -1]
    for i, s in enumerate(settings):
        chain = transformers.LogitsProcessorList([transformers.RepetitionPenaltyLogitsProcessor(s["repetition_penalty"]),
                                                  transformers.TemperatureLogitsWarper(s["temperature"])])
        if s["top_k"] is not None:
            chain.append(transformers.TopKLogitsWarper(s["top_k"]))
        if s["top_p"] is not None:
            chain.append(transformers.TopPLogitsWarper(s["top_p"]))
        p = chain(prompt, scores.clone()).softmax(-1)[0]
        out = generation.generate_cached(gpt, prompt.expand(n, -1), 1, generator=torch.Generator().manual_seed(i), **s)
        freq = torch.bincount(out[:, -1], minlength=V).double() / n
        assert torch.all(freq[p == 0] == 0), s
        sigma = (p * (1 - p) / n).sqrt()
        assert torch.all((freq - p).abs() <= 5 * sigma + 1e-12), (s, p, freq)


# ---------------------------------------------------------------- streaming


def test_stream_decode_pieces_are_the_incremental_decoder_s():
    text = "北京在北纬39度，你好🤗 café"
    data = text.encode()
    vocab = {i: bytes([i]) for i in range(256)}
    ids, pos, g = [], 0, torch.Generator().manual_seed(0)
    while pos < len(data):
        piece = data[pos:pos + int(torch.randint(1, 6, (1,), generator=g))]
        pos += len(piece)
        vocab[256 + len(ids)] = piece
        ids.append(256 + len(ids))
    dec = codecs.getincrementaldecoder("utf-8")()
    want = [t for t in (dec.decode(vocab[i]) for i in ids) if t]
    got = list(generation.stream_decode(iter(ids), vocab))
    assert got == want and "".join(got) == text
    assert "\ufffd" in "".join(vocab[i].decode("utf-8", errors="replace") for i in ids)  # naive decoding breaks
