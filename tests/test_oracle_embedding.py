"""The embedding reference against code nobody on the team wrote.

Oracles: torch.nn.functional.embedding, torch.nn.functional.cosine_similarity,
torch.nn.functional.logsigmoid (in the written-out loss formula), brute-force loops and
closed-form counts for the skip-gram / CBOW windows, and a quality test of
train_word_vectors on a planted-topic corpus generated here.
"""

from __future__ import annotations

import time

import embedding
import pytest
import torch
import torch.nn.functional as F

TOL = {"rtol": 1e-12, "atol": 1e-12}


def pairwise_cos_oracle(a, b, eps=1e-8):
    return F.cosine_similarity(a.unsqueeze(-2), b.unsqueeze(-3), dim=-1, eps=eps)


# ---------------------------------------------------------------- WordEmbedding


def test_word_embedding_matches_f_embedding_any_shape():
    torch.manual_seed(0)
    emb = embedding.WordEmbedding(11, 5).double()
    assert emb.weight.shape == (11, 5) and isinstance(emb.weight, torch.nn.Parameter)
    for shape in [(), (7,), (3, 4), (2, 3, 4)]:
        ids = torch.randint(11, shape)
        out = emb(ids)
        assert out.shape == (*shape, 5)
        torch.testing.assert_close(out, F.embedding(ids, emb.weight), rtol=0, atol=0)


def test_word_embedding_init_is_standard_normal_and_gradient_flows():
    torch.manual_seed(0)
    emb = embedding.WordEmbedding(400, 50)
    w = emb.weight.detach()
    assert abs(w.mean().item()) < 0.02 and abs(w.std().item() - 1) < 0.02
    emb(torch.tensor([3, 3, 5])).sum().backward()
    g = emb.weight.grad
    assert torch.equal(g[3], torch.full((50,), 2.0)) and torch.equal(g[5], torch.ones(50))
    assert g.abs().sum() == 3 * 50


# ---------------------------------------------------------------- cosine_similarity


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cosine_similarity_matches_torch(dtype):
    torch.manual_seed(1)
    a = torch.randn(2, 3, 4, 6, dtype=dtype)
    b = torch.randn(2, 3, 5, 6, dtype=dtype)
    out = embedding.cosine_similarity(a, b)
    assert out.shape == (2, 3, 4, 5) and out.dtype == dtype
    tol = TOL if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(out, pairwise_cos_oracle(a, b), **tol)


def test_cosine_similarity_broadcasts_leading_dims_and_is_not_in_place():
    a = torch.randn(3, 1, 4, 6, dtype=torch.float64)
    b = torch.randn(5, 2, 6, dtype=torch.float64)
    a0, b0 = a.clone(), b.clone()
    out = embedding.cosine_similarity(a, b)
    assert out.shape == (3, 5, 4, 2)
    torch.testing.assert_close(out, pairwise_cos_oracle(a, b), **TOL)
    assert torch.equal(a, a0) and torch.equal(b, b0)


def test_cosine_similarity_clamps_each_norm_not_the_product():
    # a zero row gives 0, not NaN; a row shorter than eps is divided by eps, not by its norm.
    a = torch.tensor([[0.0, 0.0, 0.0], [1e-9, 0.0, 0.0], [3.0, 4.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 0.0, 0.0], [1e-6, 1e-6, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    out = embedding.cosine_similarity(a, b, eps=1e-8)
    torch.testing.assert_close(out, pairwise_cos_oracle(a, b, eps=1e-8), **TOL)
    assert torch.isfinite(out).all()
    assert out[0].abs().max() == 0
    torch.testing.assert_close(out[1, 0], torch.tensor(0.1, dtype=torch.float64))  # 1e-9/1e-8
    # product clamping would differ here: |a|*|b| = 1e-9 * 1.41e-6 < eps, each norm is not
    prod_clamped = (a[1] @ b[1]) / max(a[1].norm() * b[1].norm(), torch.tensor(1e-8))
    assert not torch.isclose(out[1, 1], prod_clamped)


def test_cosine_similarity_rejects_mismatched_width():
    with pytest.raises(ValueError):
        embedding.cosine_similarity(torch.randn(2, 3), torch.randn(2, 4))


# ---------------------------------------------------------------- prefix prediction


def test_mean_prefix_embedding_and_logits_match_torch():
    torch.manual_seed(2)
    w = torch.randn(9, 4, dtype=torch.float64)
    prefix = torch.randint(9, (3, 5))
    e = embedding.mean_prefix_embedding(w, prefix)
    torch.testing.assert_close(e, F.embedding(prefix, w).mean(dim=1), **TOL)
    for t in [1.0, 0.25]:
        logits = embedding.prefix_logits(w, prefix, temperature=t)
        want = F.cosine_similarity(e[:, None, :], w[None, :, :], dim=-1) / t
        assert logits.shape == (3, 9)
        torch.testing.assert_close(logits, want, **TOL)
    pred = embedding.predict_next_token(w, prefix)
    assert pred.dtype == torch.long and torch.equal(pred, want.argmax(dim=-1))


def test_predict_next_token_may_pick_a_prefix_word():
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    assert embedding.predict_next_token(w, torch.tensor([[0, 0]])).tolist() == [0]


def test_prefix_invalid_arguments():
    w = torch.randn(5, 3)
    with pytest.raises(ValueError):
        embedding.mean_prefix_embedding(w, torch.zeros(2, 0, dtype=torch.long))
    for t in [0.0, -1.0]:
        with pytest.raises(ValueError):
            embedding.prefix_logits(w, torch.zeros(2, 1, dtype=torch.long), temperature=t)


# ---------------------------------------------------------------- skip-gram / CBOW windows


def skipgram_loop(ids, window):
    T = len(ids)
    return [(ids[i], ids[j]) for i in range(T) for j in range(T) if 1 <= abs(i - j) <= window]


@pytest.mark.parametrize("T", [0, 1, 2, 3, 5, 8])
@pytest.mark.parametrize("window", [1, 2, 3])
def test_skipgram_pairs_counts_order_and_values(T, window):
    ids = torch.randint(100, (T,))
    pairs = embedding.skipgram_pairs(ids, window)
    assert pairs.dtype == torch.long and pairs.shape == (sum(2 * max(T - d, 0) for d in range(1, window + 1)), 2)
    assert [tuple(p) for p in pairs.tolist()] == skipgram_loop(ids.tolist(), window)
    if T > window:  # closed form when no window is cut by both ends at once
        assert pairs.shape[0] == 2 * window * T - window * (window + 1)


def test_skipgram_pairs_example_and_invalid_window():
    ids = torch.tensor([10, 11, 12])
    assert embedding.skipgram_pairs(ids, 1).tolist() == [[10, 11], [11, 10], [11, 12], [12, 11]]
    for w in [0, -1]:
        with pytest.raises(ValueError):
            embedding.skipgram_pairs(ids, w)


@pytest.mark.parametrize("T", [0, 1, 2, 4, 5, 9])
@pytest.mark.parametrize("window", [1, 2, 3])
def test_cbow_windows_counts_and_values(T, window):
    ids = torch.randint(100, (T,))
    ctx, center = embedding.cbow_windows(ids, window)
    n = max(T - 2 * window, 0)
    assert ctx.shape == (n, 2 * window) and center.shape == (n,)
    assert ctx.dtype == torch.long and center.dtype == torch.long
    lst = ids.tolist()
    for r, i in enumerate(range(window, T - window)):
        assert center[r].item() == lst[i]
        assert ctx[r].tolist() == lst[i - window:i] + lst[i + 1:i + window + 1]


def test_cbow_windows_invalid_window():
    with pytest.raises(ValueError):
        embedding.cbow_windows(torch.arange(6), 0)


# ---------------------------------------------------------------- sgns_loss


def sgns_oracle(c, o, n):
    pos = F.logsigmoid((c * o).sum(-1))
    neg = F.logsigmoid(-torch.einsum("bkd,bd->bk", n, c)).sum(-1)
    return -(pos + neg).mean()


def test_sgns_loss_matches_formula():
    torch.manual_seed(3)
    c, o, n = (torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64),
               torch.randn(6, 3, 4, dtype=torch.float64))
    loss = embedding.sgns_loss(c, o, n)
    assert loss.shape == () and loss.dtype == torch.float64
    torch.testing.assert_close(loss, sgns_oracle(c, o, n), **TOL)
    # the naive formula agrees where it is safe
    naive = -(torch.log(torch.sigmoid((c * o).sum(-1)))
              + torch.log(torch.sigmoid(-(n @ c[..., None])[..., 0])).sum(-1)).mean()
    torch.testing.assert_close(loss, naive, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sgns_loss_is_finite_for_large_dot_products(dtype):
    c = torch.full((2, 4), 10.0, dtype=dtype)
    o = torch.full((2, 4), -10.0, dtype=dtype)      # c·o = -400
    n = torch.full((2, 3, 4), 10.0, dtype=dtype)    # c·n = +400
    loss = embedding.sgns_loss(c, o, n)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, sgns_oracle(c, o, n))
    torch.testing.assert_close(loss, torch.tensor(1600.0, dtype=dtype))


def test_sgns_loss_gradient_and_edge_cases():
    c = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    o, n = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 0, 4, dtype=torch.float64)
    loss = embedding.sgns_loss(c, o, n)            # K = 0: only the positive term
    torch.testing.assert_close(loss, -F.logsigmoid((c * o).sum(-1)).mean(), **TOL)
    loss.backward()
    assert c.grad is not None and torch.isfinite(c.grad).all()
    empty = embedding.sgns_loss(torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0, 2, 4))
    assert empty.item() == 0.0
    with pytest.raises(ValueError):
        embedding.sgns_loss(torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 2, 4))


# ---------------------------------------------------------------- train_word_vectors


def planted_topic_corpus(vocab=60, topics=6, tokens=20_000, seed=0):
    """Runs of 5..19 words drawn from one topic; words only co-occur within their topic
    (except across a run boundary). Returns (corpus Long[T], topic_of Long[V])."""
    g = torch.Generator().manual_seed(seed)
    per = vocab // topics
    perm = torch.randperm(vocab, generator=g)
    topic_of = torch.empty(vocab, dtype=torch.long)
    topic_of[perm] = torch.arange(vocab) // per
    runs, n = [], 0
    while n < tokens:
        t = int(torch.randint(topics, (1,), generator=g))
        length = int(torch.randint(5, 20, (1,), generator=g))
        runs.append(perm[t * per:(t + 1) * per][torch.randint(per, (length,), generator=g)])
        n += length
    return torch.cat(runs)[:tokens], topic_of


def same_topic_rate(vectors, topic_of):
    sim = F.cosine_similarity(vectors[:, None, :], vectors[None, :, :], dim=-1)
    sim.fill_diagonal_(-2.0)
    return (topic_of[sim.argmax(dim=-1)] == topic_of).double().mean().item()


@pytest.mark.parametrize("seed", [0, 1])
def test_train_word_vectors_finds_planted_topics_quickly(seed):
    corpus, topic_of = planted_topic_corpus(seed=seed)
    corpus0 = corpus.clone()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.process_time()   # CPU time: robust to other jobs on a shared machine
        vecs = embedding.train_word_vectors(corpus, 60, dim=32, seed=seed)
        elapsed = time.process_time() - start
    finally:
        torch.set_num_threads(threads)
    assert vecs.shape == (60, 32) and vecs.dtype == torch.get_default_dtype()
    assert not vecs.requires_grad
    assert torch.equal(corpus, corpus0)
    assert same_topic_rate(vecs, topic_of) >= 0.9
    assert same_topic_rate(torch.randn(60, 32), topic_of) < 0.5   # the test can fail
    assert elapsed < 5.0, f"took {elapsed:.2f} s of CPU time"


def test_train_word_vectors_is_deterministic_and_validates():
    corpus, _ = planted_topic_corpus(tokens=2_000, seed=3)
    a = embedding.train_word_vectors(corpus, 60, dim=8, epochs=1, seed=5)
    b = embedding.train_word_vectors(corpus, 60, dim=8, epochs=1, seed=5)
    c = embedding.train_word_vectors(corpus, 60, dim=8, epochs=1, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError):
        embedding.train_word_vectors(corpus, 60, window=0)
    with pytest.raises(ValueError):
        embedding.train_word_vectors(corpus, 10)   # ids up to 59 are outside [0, 10)
