"""embedding written another way: the lookup table through index_select on the flattened ids
(weight filled with Tensor.normal_); cosine_similarity as an einsum of the raw vectors divided by
the outer product of the separately clamped norms, in float64 and cast back; E_predict as a
bag-of-words (mean one-hot counts @ weight); prefix_logits from unit rows without calling
cosine_similarity, multiplied by 1/temperature; predict_next_token via torch.max; skipgram_pairs
with two explicit Python loops; cbow_windows with Tensor.unfold; sgns_loss with einsum and
-log σ(x) = logaddexp(0, -x); train_word_vectors: an own skip-gram loop (word2vec-style init,
W_in uniform and W_out zero, batches of 256, 4 negatives drawn per epoch, Adam, defaults
epochs=4, lr=0.03)."""

import torch
import torch.nn.functional as F
from torch import nn


class WordEmbedding(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab_size, dim).normal_(mean=0.0, std=1.0))

    def forward(self, ids):
        flat = ids.reshape(-1)
        rows = torch.index_select(self.weight, 0, flat)
        return rows.reshape(*ids.shape, self.weight.shape[1])


def cosine_similarity(a, b, eps=1e-8):
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"last dims differ: a has D={a.shape[-1]}, b has D={b.shape[-1]}")
    out_dtype = torch.result_type(a, b)
    a64, b64 = a.double(), b.double()
    dots = torch.einsum("...nd,...md->...nm", a64, b64)
    na = torch.linalg.vector_norm(a64, dim=-1).clamp(min=eps)    # [..., N]
    nb = torch.linalg.vector_norm(b64, dim=-1).clamp(min=eps)    # [..., M]
    return (dots / (na.unsqueeze(-1) * nb.unsqueeze(-2))).to(out_dtype)


def mean_prefix_embedding(weight, prefix):
    B, K = prefix.shape
    if K == 0:
        raise ValueError("cannot average an empty prefix (K = 0)")
    bag = F.one_hot(prefix, num_classes=weight.shape[0]).to(weight.dtype).sum(dim=1) / K   # [B, V]
    return bag @ weight


def prefix_logits(weight, prefix, temperature=1.0):
    if not temperature > 0:
        raise ValueError(f"temperature has to be positive, got {temperature}")
    e = mean_prefix_embedding(weight, prefix)
    e_unit = e / torch.linalg.vector_norm(e, dim=-1, keepdim=True).clamp(min=1e-8)
    w_unit = weight / torch.linalg.vector_norm(weight, dim=-1, keepdim=True).clamp(min=1e-8)
    return torch.einsum("bd,vd->bv", e_unit, w_unit) * (1.0 / temperature)


def predict_next_token(weight, prefix):
    return torch.max(prefix_logits(weight, prefix), dim=1).indices


def skipgram_pairs(ids, window):
    if window < 1:
        raise ValueError(f"window has to be at least 1, got {window}")
    seq = ids.tolist()
    pairs = []
    for i, center in enumerate(seq):
        for j in range(max(0, i - window), min(len(seq), i + window + 1)):
            if j != i:
                pairs.append((center, seq[j]))
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)


def cbow_windows(ids, window):
    if window < 1:
        raise ValueError(f"window has to be at least 1, got {window}")
    if ids.shape[0] < 2 * window + 1:
        return ids.new_empty((0, 2 * window)), ids.new_empty((0,))
    win = ids.unfold(0, 2 * window + 1, 1)                 # [T', 2w+1], one row per center
    contexts = torch.cat([win[:, :window], win[:, window + 1:]], dim=1)
    return contexts.contiguous(), win[:, window].contiguous()


def sgns_loss(center, context, negatives):
    if center.dim() != 2 or context.shape != center.shape or negatives.dim() != 3 \
            or negatives.shape[0] != center.shape[0] or negatives.shape[2] != center.shape[1]:
        raise ValueError("need center [B, D], context [B, D] and negatives [B, K, D]")
    if center.shape[0] == 0:
        return torch.zeros((), dtype=center.dtype)
    pos = torch.einsum("bd,bd->b", center, context)
    neg = torch.einsum("bkd,bd->bk", negatives, center)
    zero = torch.zeros((), dtype=center.dtype)
    per_pair = torch.logaddexp(zero, -pos) + torch.logaddexp(zero, neg).sum(dim=1)
    return per_pair.sum() / center.shape[0]


def train_word_vectors(corpus, vocab_size, dim=32, window=2, epochs=4, lr=0.03, seed=0):
    if window < 1:
        raise ValueError(f"window has to be at least 1, got {window}")
    if corpus.numel() > 0 and not bool(((corpus >= 0) & (corpus < vocab_size)).all()):
        raise ValueError(f"every corpus id must be in [0, {vocab_size})")
    gen = torch.Generator()
    gen.manual_seed(seed)
    n_neg, batch = 4, 256
    pairs = skipgram_pairs(corpus, window)
    w_in = ((torch.rand(vocab_size, dim, generator=gen) - 0.5) / dim).requires_grad_(True)
    w_out = torch.zeros(vocab_size, dim, requires_grad=True)
    counts = torch.bincount(corpus, minlength=vocab_size).to(torch.float64)
    noise = counts.pow(0.75)
    opt = torch.optim.Adam([w_in, w_out], lr=lr)
    n = pairs.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        negs = torch.multinomial(noise, n * n_neg, replacement=True, generator=gen).reshape(n, n_neg)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            c, o = pairs[idx, 0], pairs[idx, 1]
            loss = sgns_loss(w_in[c], w_out[o], w_out[negs[idx]])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return w_in.detach().to(torch.get_default_dtype()).clone()
