"""Oracle tests for solutions/objectives.py.

Oracles nobody on the team wrote:
- ``F.cross_entropy(..., ignore_index=-100)`` in the formulations the libraries use: labels
  with -100 at positions that do not count, shifted by one for causal LMs (as 🤗
  ``GPT2LMHeadModel(labels=...)``), prompt positions set to -100 for SFT (as Alpaca / TRL's
  completion-only collator); 🤗 ``ForCausalLMLoss`` itself when transformers is installed;
- 🤗 ``DataCollatorForLanguageModeling.torch_mask_tokens`` for BERT masking, compared by
  proportions (both sides are random; the draws themselves are never compared).
Statistical checks use fixed seeds and 5-sigma bounds on about 10^5 positions.
"""

from __future__ import annotations

import math

import objectives
import pytest
import torch
import torch.nn.functional as F

V = 11


def rand_logits(b, length, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, length, V, generator=g, dtype=torch.float64) * 2).to(dtype)


def rand_ids(b, length, seed=1, high=V):
    return torch.randint(high, (b, length), generator=torch.Generator().manual_seed(seed))


def ce(logits, labels):
    """PyTorch's own masked cross-entropy: mean over labels != -100."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


# ---------------------------------------------------------------- masked_lm_loss


def test_masked_lm_loss_matches_cross_entropy_with_ignore_index():
    logits = rand_logits(3, 7)
    labels = rand_ids(3, 7)
    labels[torch.rand(3, 7, generator=torch.Generator().manual_seed(2)) < 0.6] = -100
    labels[0, 0] = 4                                     # at least one counted
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        got = objectives.masked_lm_loss(logits.to(dtype), labels)
        assert got.dtype == dtype and got.shape == ()
        torch.testing.assert_close(got, ce(logits.to(dtype), labels), rtol=tol, atol=tol)


def test_masked_lm_loss_is_zero_not_nan_when_nothing_is_masked():
    logits = rand_logits(2, 5).requires_grad_()
    labels = torch.full((2, 5), -100)
    assert torch.isnan(ce(logits, labels))              # what the naive mean gives
    loss = objectives.masked_lm_loss(logits, labels)
    assert loss.item() == 0.0
    loss.backward()                                      # and it still backpropagates
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_masked_lm_loss_gradient_matches():
    logits = rand_logits(2, 6)
    labels = rand_ids(2, 6)
    labels[:, ::2] = -100
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    objectives.masked_lm_loss(a, labels).backward()
    ce(b, labels).backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-12)


def test_masked_lm_loss_shape_mismatch_is_invalid():
    with pytest.raises(ValueError):
        objectives.masked_lm_loss(rand_logits(2, 5), rand_ids(2, 4))


# ---------------------------------------------------------------- next_token_loss


def _hf_causal_labels(ids, mask):
    return ids if mask is None else ids.masked_fill(~mask, -100)


def test_next_token_loss_matches_the_shifted_formulation():
    logits, ids = rand_logits(3, 8), rand_ids(3, 8)
    lengths = torch.tensor([8, 5, 2])
    mask = torch.arange(8)[None, :] < lengths[:, None]
    for m in (None, mask):
        labels = _hf_causal_labels(ids, m)
        expected = ce(logits[:, :-1], labels[:, 1:])
        torch.testing.assert_close(objectives.next_token_loss(logits, ids, m), expected,
                                   rtol=1e-12, atol=1e-12)


def test_next_token_loss_matches_hf_for_causal_lm_loss():
    pytest.importorskip("transformers", reason="transformers is not installed")
    try:
        from transformers.loss.loss_utils import ForCausalLMLoss
    except ImportError:
        pytest.skip("this transformers version has no transformers.loss.loss_utils.ForCausalLMLoss")
    logits, ids = rand_logits(3, 8), rand_ids(3, 8)
    mask = torch.ones(3, 8, dtype=torch.bool)
    mask[1, 6:] = False
    mask[2, 3:] = False
    expected = ForCausalLMLoss(logits, _hf_causal_labels(ids, mask), vocab_size=V)  # float32 inside
    got = objectives.next_token_loss(logits, ids, mask)
    torch.testing.assert_close(got.float(), expected, rtol=1e-5, atol=1e-6)


def test_next_token_loss_counts_tokens_not_sequences():
    logits, ids = rand_logits(2, 9), rand_ids(2, 9)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 3:] = False                                  # 8 targets in row 0, 2 in row 1
    tok = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1), reduction="none")
    tok = tok.view(2, 8)
    per_token = (tok[0].sum() + tok[1, :2].sum()) / 10
    per_seq = (tok[0].mean() + tok[1, :2].mean()) / 2
    got = objectives.next_token_loss(logits, ids, mask)
    torch.testing.assert_close(got, per_token, rtol=1e-12, atol=1e-12)
    assert not torch.isclose(got, per_seq)


def test_next_token_loss_is_zero_when_nothing_counts():
    assert objectives.next_token_loss(rand_logits(2, 1), rand_ids(2, 1)).item() == 0.0
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[:, 0] = True                                    # one real token: nothing to predict
    loss = objectives.next_token_loss(rand_logits(2, 5), rand_ids(2, 5), mask)
    assert loss.item() == 0.0


def test_next_token_loss_does_not_modify_inputs_and_checks_shapes():
    logits, ids = rand_logits(2, 6), rand_ids(2, 6)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[0, 4:] = False
    copies = logits.clone(), ids.clone(), mask.clone()
    objectives.next_token_loss(logits, ids, mask)
    assert all(torch.equal(a, b) for a, b in zip(copies, (logits, ids, mask)))
    with pytest.raises(ValueError):
        objectives.next_token_loss(logits, ids[:, :5])


# ---------------------------------------------------------------- sft_loss


def _completion_only_labels(ids, prompt_lengths, mask):
    """Alpaca / TRL style: copy ids, set the prompt and the padding to -100."""
    labels = ids.clone()
    for b, p in enumerate(prompt_lengths.tolist()):
        labels[b, :p] = -100
    if mask is not None:
        labels[~mask] = -100
    return labels


def test_sft_loss_matches_completion_only_formulation():
    logits, ids = rand_logits(3, 9), rand_ids(3, 9)
    prompts = torch.tensor([3, 1, 5])
    mask = torch.arange(9)[None, :] < torch.tensor([9, 6, 7])[:, None]
    for m in (None, mask):
        labels = _completion_only_labels(ids, prompts, m)
        expected = ce(logits[:, :-1], labels[:, 1:])
        got = objectives.sft_loss(logits, ids, prompts, m)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_sft_loss_edge_cases():
    logits, ids = rand_logits(2, 6), rand_ids(2, 6)
    # no prompt at all: plain next-token loss
    zero = torch.zeros(2, dtype=torch.long)
    torch.testing.assert_close(objectives.sft_loss(logits, ids, zero),
                               objectives.next_token_loss(logits, ids), rtol=1e-12, atol=1e-12)
    # prompt of length 1: the first token is never a target anyway
    one = torch.ones(2, dtype=torch.long)
    torch.testing.assert_close(objectives.sft_loss(logits, ids, one),
                               objectives.next_token_loss(logits, ids), rtol=1e-12, atol=1e-12)
    # everything is prompt: nothing counts
    full = torch.full((2,), 6)
    assert objectives.sft_loss(logits, ids, full).item() == 0.0
    # per token, not per sequence
    prompts = torch.tensor([1, 4])                       # 5 targets in row 0, 2 in row 1
    tok = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1), reduction="none")
    tok = tok.view(2, 5)
    per_token = (tok[0].sum() + tok[1, 3:].sum()) / 7
    torch.testing.assert_close(objectives.sft_loss(logits, ids, prompts), per_token,
                               rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- mask_tokens

MASK_ID = V - 1
BIG_B, BIG_L = 200, 500


def _big_batch():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(MASK_ID, (BIG_B, BIG_L), generator=g)       # never the [MASK] id
    special = torch.rand(BIG_B, BIG_L, generator=g) < 0.2
    return ids, special


def _proportions(ids, special, inputs, labels):
    selected = labels != -100
    n_sel = int(selected.sum())
    return {
        "n_candidates": int((~special).sum()),
        "n_selected": n_sel,
        "selected": n_sel / int((~special).sum()),
        "mask": int((inputs[selected] == MASK_ID).sum()) / n_sel,
        "kept": int((inputs[selected] == ids[selected]).sum()) / n_sel,
        "other": int(((inputs[selected] != MASK_ID) & (inputs[selected] != ids[selected])).sum())
        / n_sel,
    }


def _expected(p=0.15):
    # a random replacement is uniform over V ids: it may hit [MASK] or the original id
    return {"selected": p, "mask": 0.8 + 0.1 / V, "kept": 0.1 + 0.1 / V, "other": 0.1 * (V - 2) / V}


def _assert_close_to(props, expected, sigmas=5.0):
    for key, p in expected.items():
        n = props["n_candidates"] if key == "selected" else props["n_selected"]
        bound = sigmas * math.sqrt(p * (1 - p) / n)
        assert abs(props[key] - p) < bound, (key, props[key], p, bound)


def test_mask_tokens_structure():
    ids, special = _big_batch()
    keep = ids.clone()
    inputs, labels = objectives.mask_tokens(ids, MASK_ID, V, special_tokens_mask=special,
                                            generator=torch.Generator().manual_seed(0))
    assert torch.equal(ids, keep)                                  # ids not modified
    assert inputs.shape == labels.shape == ids.shape
    assert inputs.dtype == labels.dtype == torch.long
    selected = labels != -100
    assert torch.equal(labels[selected], ids[selected])            # labels: the original ids
    assert torch.equal(inputs[~selected], ids[~selected])          # unselected: unchanged
    assert not (selected & special).any()                          # specials never selected
    assert inputs.min() >= 0 and inputs.max() < V


def test_mask_tokens_statistics():
    ids, special = _big_batch()
    inputs, labels = objectives.mask_tokens(ids, MASK_ID, V, special_tokens_mask=special,
                                            generator=torch.Generator().manual_seed(0))
    _assert_close_to(_proportions(ids, special, inputs, labels), _expected())
    # random replacements are uniform over [0, V): every id shows up, none dominates
    selected = labels != -100
    other = inputs[selected & (inputs != ids) & (inputs != MASK_ID)]
    counts = torch.bincount(other, minlength=V).double()
    assert counts[:MASK_ID].min() > 0.5 * counts.sum() / V
    # another probability, no specials
    no_special = torch.zeros_like(special)
    inputs, labels = objectives.mask_tokens(ids, MASK_ID, V, mlm_probability=0.4,
                                            generator=torch.Generator().manual_seed(1))
    _assert_close_to(_proportions(ids, no_special, inputs, labels), _expected(0.4))


def test_mask_tokens_uses_the_generator():
    ids, special = _big_batch()
    ids, special = ids[:8], special[:8]
    a = objectives.mask_tokens(ids, MASK_ID, V, special_tokens_mask=special,
                               generator=torch.Generator().manual_seed(42))
    torch.manual_seed(0)                                            # the global RNG must not matter
    b = objectives.mask_tokens(ids, MASK_ID, V, special_tokens_mask=special,
                               generator=torch.Generator().manual_seed(42))
    c = objectives.mask_tokens(ids, MASK_ID, V, special_tokens_mask=special,
                               generator=torch.Generator().manual_seed(43))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_mask_tokens_extremes_and_invalid():
    ids, special = _big_batch()
    ids, special = ids[:4], special[:4]
    inputs, labels = objectives.mask_tokens(ids, MASK_ID, V, mlm_probability=0.0,
                                            special_tokens_mask=special)
    assert torch.equal(inputs, ids) and (labels == -100).all()
    inputs, labels = objectives.mask_tokens(ids, MASK_ID, V, mlm_probability=1.0,
                                            special_tokens_mask=special)
    assert torch.equal(labels != -100, ~special)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError):
            objectives.mask_tokens(ids, MASK_ID, V, mlm_probability=p)


def _hf_collator():
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is not installed")
    from tokenizers.models import WordLevel

    vocab = {f"w{i}": i for i in range(MASK_ID)}
    vocab["[MASK]"] = MASK_ID
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer(WordLevel(vocab, unk_token="w0")),
        mask_token="[MASK]", unk_token="w0",
    )
    assert len(tok) == V and tok.convert_tokens_to_ids("[MASK]") == MASK_ID
    return transformers.DataCollatorForLanguageModeling(tok, mlm=True, mlm_probability=0.15)


def test_mask_tokens_proportions_match_hf_data_collator():
    collator = _hf_collator()
    ids, special = _big_batch()
    torch.manual_seed(0)                                            # the collator's RNG
    hf_inputs, hf_labels = collator.torch_mask_tokens(ids.clone(), special.clone())
    ours = _proportions(ids, special, *objectives.mask_tokens(
        ids, MASK_ID, V, special_tokens_mask=special, generator=torch.Generator().manual_seed(0)))
    theirs = _proportions(ids, special, hf_inputs, hf_labels)
    _assert_close_to(theirs, _expected())                           # the oracle agrees with the formula
    for key in ("selected", "mask", "kept", "other"):              # two-sample test, 5 sigma
        n1 = ours["n_candidates"] if key == "selected" else ours["n_selected"]
        n2 = theirs["n_candidates"] if key == "selected" else theirs["n_selected"]
        p = (ours[key] * n1 + theirs[key] * n2) / (n1 + n2)
        bound = 5 * math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
        assert abs(ours[key] - theirs[key]) < bound, (key, ours[key], theirs[key])
    # specials are never selected by either
    assert not ((hf_labels != -100) & special).any()
