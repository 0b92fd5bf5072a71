"""embedding written a second other way: the lookup table as a one-hot matrix product (weight
registered with register_parameter, extra int attributes and an extra_repr); cosine_similarity
with the squared norms clamped below at eps**2 and an rsqrt (same values as clamping each norm
at eps), the sums of squares in float64; E_predict through F.embedding_bag(mode="mean");
prefix_logits scales the unit query by 1/temperature before the product; predict_next_token
normalises only the word vectors (the query's length does not change an argmax) and breaks ties
with a stable descending sort; skipgram_pairs from torch.nonzero of a |i - j| band matrix;
cbow_windows from one shifted slice per offset (empty when T <= 2*window without a special
case); sgns_loss with F.softplus (-log σ(x) = softplus(-x)) and sum / max(B, 1) for the mean,
so B == 0 gives 0.0 without a branch; train_word_vectors trains CBOW (the accepted
alternative): the mean of the context vectors predicts the center through sgns_loss, negatives
drawn by inverse CDF (torch.rand + searchsorted on the cumulative unigram^0.75), batches of
128, W_out initialised small, defaults epochs=5, lr=0.02."""

import torch
import torch.nn.functional as F
from torch import nn


class WordEmbedding(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.dim = int(dim)
        self.register_parameter("weight", nn.Parameter(torch.randn(self.vocab_size, self.dim)))

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, dim={self.dim}"

    def forward(self, ids):
        one_hot = F.one_hot(ids, num_classes=self.weight.shape[0]).to(self.weight.dtype)   # [*, V]
        return one_hot @ self.weight


def _unit_rows(x, eps):
    # x / max(|x|, eps) == x * rsqrt(max(|x|², eps²))
    sq = (x.double() * x.double()).sum(dim=-1, keepdim=True)
    return x * torch.rsqrt(sq.clamp(min=eps * eps)).to(x.dtype)


def cosine_similarity(a, b, eps=1e-8):
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"cosine_similarity: a has width {a.shape[-1]} but b has width {b.shape[-1]}")
    return torch.matmul(_unit_rows(a, eps), _unit_rows(b, eps).mT)


def mean_prefix_embedding(weight, prefix):
    if prefix.shape[-1] == 0:
        raise ValueError("mean_prefix_embedding: the prefix has no words (K = 0)")
    return F.embedding_bag(prefix, weight, mode="mean")


def prefix_logits(weight, prefix, temperature=1.0):
    if temperature <= 0:
        raise ValueError(f"prefix_logits: temperature must be positive, got {temperature}")
    query = _unit_rows(mean_prefix_embedding(weight, prefix), 1e-8) / temperature
    return query @ _unit_rows(weight, 1e-8).T


def predict_next_token(weight, prefix):
    scores = mean_prefix_embedding(weight, prefix) @ _unit_rows(weight, 1e-8).T
    return torch.sort(scores, dim=-1, descending=True, stable=True).indices[:, 0]


def skipgram_pairs(ids, window):
    if window < 1:
        raise ValueError(f"skipgram_pairs: window must be at least 1, got {window}")
    pos = torch.arange(ids.shape[0])
    dist = (pos[:, None] - pos[None, :]).abs()
    ij = torch.nonzero((dist >= 1) & (dist <= window))          # row-major: by i, then j
    return ids[ij]                                              # [P, 2]


def cbow_windows(ids, window):
    if window < 1:
        raise ValueError(f"cbow_windows: window must be at least 1, got {window}")
    n = max(ids.shape[0] - 2 * window, 0)
    offsets = [o for o in range(-window, window + 1) if o != 0]
    contexts = torch.stack([ids[window + o:window + o + n] for o in offsets], dim=1)
    return contexts, ids[window:window + n]


def sgns_loss(center, context, negatives):
    if center.dim() != 2 or context.shape != center.shape or negatives.dim() != 3 \
            or negatives.shape[0] != center.shape[0] or negatives.shape[2] != center.shape[1]:
        raise ValueError(f"sgns_loss: shapes {tuple(center.shape)}, {tuple(context.shape)}, "
                         f"{tuple(negatives.shape)} are not [B, D], [B, D], [B, K, D]")
    pos = (center * context).sum(dim=1)                         # [B]
    neg = torch.bmm(negatives, center.unsqueeze(2)).squeeze(2)   # [B, K]
    per_pair = F.softplus(-pos) + F.softplus(neg).sum(dim=1)    # -log σ(x) = softplus(-x)
    return per_pair.sum() / max(center.shape[0], 1)


def train_word_vectors(corpus, vocab_size, dim=32, window=2, epochs=5, lr=0.02, seed=0):
    if window < 1:
        raise ValueError(f"train_word_vectors: window must be at least 1, got {window}")
    if corpus.numel() and not (0 <= int(corpus.min()) and int(corpus.max()) < vocab_size):
        raise ValueError(f"train_word_vectors: ids must be in [0, {vocab_size})")
    gen = torch.Generator().manual_seed(int(seed))
    dtype = torch.get_default_dtype()
    contexts, centers = cbow_windows(corpus, window)
    w_in = (0.1 * torch.randn(vocab_size, dim, generator=gen, dtype=dtype)).requires_grad_()
    w_out = (0.01 * torch.randn(vocab_size, dim, generator=gen, dtype=dtype)).requires_grad_()
    cdf = torch.cumsum(torch.bincount(corpus, minlength=vocab_size).double() ** 0.75, dim=0)
    opt = torch.optim.Adam([w_in, w_out], lr=lr, betas=(0.9, 0.99))
    n, batch, k = centers.shape[0], 128, 5
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            u = torch.rand(len(idx) * k, generator=gen, dtype=torch.float64) * cdf[-1]
            neg = torch.searchsorted(cdf, u, right=True).clamp(max=vocab_size - 1).view(len(idx), k)
            hidden = w_in[contexts[idx]].mean(dim=1)             # [b, D]
            loss = sgns_loss(hidden, w_out[centers[idx]], w_out[neg])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w_in.detach().clone()
