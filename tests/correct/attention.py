"""attention written another way (softmax and scaled_dot_product_attention already have
alternatives in tests/test_engine.py and tests/test_gradients_and_mutation.py, so they stay the
reference's): cosine_attention normalises with F.normalize, takes the cosines and mixes the rows
with einsum in float64 (still through the module's softmax) and casts back; SelfAttention is
redefined: d_k defaulted with `or`, the projections created in another order through a loop,
the attention written inline (q pre-scaled by dk^-1/2, einsum scores, masked_fill with the
dtype's most negative finite number, probabilities from exp(s - logsumexp(s)))."""

import torch
import torch.nn.functional as F
from torch import nn


def cosine_attention(E):
    x = E.double()
    unit = F.normalize(x, p=2.0, dim=-1, eps=1e-8)            # x / max(|x|, 1e-8)
    cos = torch.einsum("...id,...jd->...ij", unit, unit)
    weights = softmax(cos, dim=-1)  # noqa: F821
    return torch.einsum("...ij,...jd->...id", weights, x).to(E.dtype)


class SelfAttention(nn.Module):
    def __init__(self, d_model, d_k=None):
        super().__init__()
        width = d_k or d_model
        self.o_proj = nn.Linear(width, d_model, bias=True)
        for name in ("v_proj", "k_proj", "q_proj"):
            setattr(self, name, nn.Linear(d_model, width, bias=True))

    def forward(self, x, mask=None):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        q = q * q.shape[-1] ** -0.5
        scores = torch.einsum("bid,bjd->bij", q, k)
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not(), torch.finfo(scores.dtype).min)
        probs = torch.exp(scores - torch.logsumexp(scores, dim=-1, keepdim=True))
        return self.o_proj(torch.einsum("bij,bjd->bid", probs, v))
