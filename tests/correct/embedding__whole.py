"""Word vectors -- my solution to the `embedding` exercise.

(Whole-file alternative for tests/test_correct_other_ways.py: replaces exercises/embedding.py.
It differs from the reference in layout, not in what it computes: an ``__all__``, a logger, a
print and ``warnings.filterwarnings`` and ``torch.manual_seed(0)`` at import, a frozen
dataclass of training settings, an ``lru_cache``'d helper for the CBOW offsets, WordEmbedding
derived from a private lookup-table base class whose forward it calls through
``super().forward``, ``cosine_similarity`` with a keyword-only ``eps`` through F.normalize,
``predict_next_token`` under ``@torch.no_grad()``, skip-gram pairs from a boolean band
matrix, ``train_word_vectors`` training two WordEmbedding tables with keyword-only
``epochs``/``lr``/``seed`` and printing its loss per epoch, and a ``__main__`` self-test.)
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "WordEmbedding",
    "cosine_similarity",
    "mean_prefix_embedding",
    "prefix_logits",
    "predict_next_token",
    "skipgram_pairs",
    "cbow_windows",
    "sgns_loss",
    "train_word_vectors",
]

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", category=UserWarning)
torch.manual_seed(0)  # reproducible experiments in my notebook
print("embedding.py loaded (torch", torch.__version__, ")")

DEFAULT_EPS = 1e-8


@dataclass(frozen=True)
class SGNSConfig:
    """Settings of my word2vec loop."""

    negatives: int = 5
    batch_size: int = 512
    init_std: float = 0.1
    noise_power: float = 0.75


CONFIG = SGNSConfig()


# --------------------------------------------------------------------------------------------
# lookup table
# --------------------------------------------------------------------------------------------


class _LookupTable(nn.Module):
    """A (rows, dim) table of trainable vectors; forward picks rows."""

    weight: nn.Parameter

    def __init__(self, rows: int, dim: int, std: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(rows, dim) * std)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1).long()
        return self.weight.index_select(0, flat).reshape(*ids.shape, self.weight.shape[-1])


class WordEmbedding(_LookupTable):
    """E_v = weight[v]; weight (V, D) drawn from N(0, 1)."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__(vocab_size, dim, std=1.0)
        self.vocab_size = vocab_size
        self.dim = dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.is_floating_point():
            raise TypeError("WordEmbedding expects integer ids")
        return super().forward(ids)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, dim={self.dim}"


# --------------------------------------------------------------------------------------------
# similarity and next-word prediction
# --------------------------------------------------------------------------------------------


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, *, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """out[..., n, m] = a_n · b_m / (max(|a_n|, eps) · max(|b_m|, eps))."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"cosine_similarity: widths differ, a has D={a.shape[-1]}, b has D={b.shape[-1]}")
    a_hat = F.normalize(a, p=2.0, dim=-1, eps=eps)   # a / max(|a|, eps): each norm on its own
    b_hat = F.normalize(b, p=2.0, dim=-1, eps=eps)
    return torch.matmul(a_hat, b_hat.mT)


def mean_prefix_embedding(weight: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    """E_predict = mean of the prefix's word vectors: [V, D], [B, K] -> [B, D]."""
    B, K = prefix.shape
    if K == 0:
        raise ValueError("mean_prefix_embedding: the prefix is empty (K == 0)")
    return weight[prefix].sum(dim=1) / K


def prefix_logits(weight: torch.Tensor, prefix: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """cos(E_predict, E_v) / temperature for every word v: [B, V]."""
    if not temperature > 0:
        raise ValueError(f"prefix_logits: temperature must be > 0, got {temperature}")
    e_predict = mean_prefix_embedding(weight, prefix)
    return cosine_similarity(e_predict, weight, eps=DEFAULT_EPS) / temperature


@torch.no_grad()
def predict_next_token(weight: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
    """argmax_v cos(E_predict, E_v), prefix words included."""
    return prefix_logits(weight, prefix).argmax(dim=-1)


# --------------------------------------------------------------------------------------------
# training examples
# --------------------------------------------------------------------------------------------


def _check_window(window: int) -> None:
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")


def skipgram_pairs(ids: torch.Tensor, window: int) -> torch.Tensor:
    """All (center, context) with 1 <= |i - j| <= window, by center then context position."""
    _check_window(window)
    T = ids.shape[0]
    pos = torch.arange(T)
    dist = (pos[:, None] - pos[None, :]).abs()
    band = (dist >= 1) & (dist <= window)                # [T, T], row i = center i
    i, j = band.nonzero(as_tuple=True)                   # row-major: i first, then j
    return torch.stack((ids[i], ids[j]), dim=1).reshape(-1, 2)


@functools.lru_cache(maxsize=64)
def _offsets(window: int) -> tuple[int, ...]:
    return tuple(range(-window, 0)) + tuple(range(1, window + 1))


def cbow_windows(ids: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(contexts [T', 2*window], centers [T']) for the positions with a full window."""
    _check_window(window)
    T = ids.shape[0]
    n = max(T - 2 * window, 0)
    centers_pos = torch.arange(window, window + n)
    table = centers_pos[:, None] + torch.tensor(_offsets(window), dtype=torch.long)[None, :]
    contexts = ids[table].reshape(n, 2 * window)
    return contexts, ids[centers_pos]


# --------------------------------------------------------------------------------------------
# loss and training
# --------------------------------------------------------------------------------------------


def sgns_loss(center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """mean_b [ -log σ(c·o) - Σ_k log σ(-c·n_k) ], stable for large dot products."""
    if center.dim() != 2 or context.shape != center.shape:
        raise ValueError(f"center and context must both be [B, D]; got {list(center.shape)} and "
                         f"{list(context.shape)}")
    B, D = center.shape
    if negatives.dim() != 3 or negatives.shape[0] != B or negatives.shape[2] != D:
        raise ValueError(f"negatives must be [B={B}, K, D={D}]; got {list(negatives.shape)}")
    if B == 0:
        return torch.zeros((), dtype=center.dtype, device=center.device)
    pos_score = torch.einsum("bd,bd->b", center, context)
    neg_score = torch.einsum("bkd,bd->bk", negatives, center)
    # -log σ(x) = softplus(-x); -log σ(-x) = softplus(x)
    per_pair = F.softplus(-pos_score) + F.softplus(neg_score).sum(dim=-1)
    return per_pair.mean()


def train_word_vectors(corpus: torch.Tensor, vocab_size: int, dim: int = 32, window: int = 2, *,
                       epochs: int = 3, lr: float = 0.05, seed: int = 0,
                       config: SGNSConfig = CONFIG) -> torch.Tensor:
    """Skip-gram with negative sampling; returns the center vectors W_in [V, D]."""
    corpus = corpus.long()
    if corpus.numel() and (int(corpus.min()) < 0 or int(corpus.max()) >= vocab_size):
        raise ValueError(f"train_word_vectors: corpus ids must be in [0, {vocab_size})")
    pairs = skipgram_pairs(corpus, window)
    gen = torch.Generator().manual_seed(seed)

    w_in = WordEmbedding(vocab_size, dim)
    w_out = WordEmbedding(vocab_size, dim)
    with torch.no_grad():
        for table in (w_in, w_out):
            table.weight.copy_(config.init_std * torch.randn(vocab_size, dim, generator=gen))
    noise = torch.bincount(corpus, minlength=vocab_size).to(torch.float64).pow(config.noise_power)
    if noise.sum() == 0:
        noise = torch.ones(vocab_size, dtype=torch.float64)
    opt = torch.optim.Adam([*w_in.parameters(), *w_out.parameters()], lr=lr)

    t0 = time.perf_counter()
    for epoch in range(epochs):
        perm = torch.randperm(pairs.shape[0], generator=gen)
        total, steps = 0.0, 0
        for batch_idx in perm.split(config.batch_size):
            batch = pairs[batch_idx]
            b = batch.shape[0]
            neg = torch.multinomial(noise, b * config.negatives, replacement=True, generator=gen)
            loss = sgns_loss(w_in(batch[:, 0]), w_out(batch[:, 1]), w_out(neg.view(b, config.negatives)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss)
            steps += 1
        print(f"[train_word_vectors] epoch {epoch + 1}/{epochs}: loss {total / max(steps, 1):.4f} "
              f"({time.perf_counter() - t0:.2f}s)")
        log.debug("epoch %d done", epoch)
    return w_in.weight.detach().to(torch.get_default_dtype()).clone()


if __name__ == "__main__":
    ids = torch.tensor([10, 11, 12])
    print(skipgram_pairs(ids, 1).tolist())   # [[10, 11], [11, 10], [11, 12], [12, 11]]
    print(cbow_windows(torch.tensor([10, 11, 12, 13]), 1))
    emb = WordEmbedding(7, 3)
    print(emb, emb(torch.tensor([[1, 2], [3, 4]])).shape)
    vecs = train_word_vectors(torch.randint(0, 20, (2000,)), 20, dim=8)
    print(vecs.shape)
