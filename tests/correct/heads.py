"""heads written another way: LMHead ties its weight with register_parameter; the
classification head picks its pooling from a table of functions, pools "mean" with einsum
and "cls" with select; sample_next_token samples with the Gumbel-max trick (argmax of
logits / T + Gumbel noise drawn from the generator, float64 inside) instead of softmax +
torch.multinomial, and cuts top-k with a boolean keep mask scattered from topk's indices
and the dtype's most negative finite value instead of -inf."""

import torch
from torch import nn


class LMHead(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        if tied_weight is not None and tuple(tied_weight.shape) != (vocab_size, d_model):
            raise ValueError(f"tied_weight must be ({vocab_size}, {d_model}), got {tuple(tied_weight.shape)}")
        self.proj = nn.Linear(d_model, vocab_size, bias=False)
        if tied_weight is not None:
            del self.proj.weight
            self.proj.register_parameter("weight", tied_weight)

    def forward(self, h):
        return self.proj(h)


def _pool_cls(h, attention_mask):
    return h.select(1, 0)


def _pool_mean(h, attention_mask):
    if attention_mask is None:
        return h.sum(dim=1) / h.shape[1]
    m = attention_mask.to(h.dtype)
    return torch.einsum("bld,bl->bd", h, m) / m.sum(dim=1, keepdim=True).clamp(min=1.0)


class ClassificationHead(nn.Module):
    POOLINGS = {"cls": _pool_cls, "mean": _pool_mean}

    def __init__(self, d_model, num_labels, pooling="cls"):
        super().__init__()
        if pooling not in self.POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}: expected one of {sorted(self.POOLINGS)}")
        self.pooling = pooling
        self.proj = nn.Linear(d_model, num_labels)

    def forward(self, h, attention_mask=None):
        return self.proj(self.POOLINGS[self.pooling](h, attention_mask))


def sample_next_token(logits, temperature=1.0, top_k=None, generator=None):
    if temperature < 0:
        raise ValueError(f"temperature must not be negative (got {temperature})")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive int or None (got {top_k})")
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    scores = logits.double() / temperature
    if top_k is not None and top_k < scores.shape[-1]:
        keep = torch.zeros_like(scores, dtype=torch.bool)
        keep.scatter_(-1, scores.topk(top_k, dim=-1).indices, True)
        scores = torch.where(keep, scores, torch.finfo(scores.dtype).min)
    u = torch.rand(scores.shape, dtype=torch.float64, generator=generator, device=scores.device)
    gumbel = -torch.log(-torch.log(u))
    return torch.argmax(scores + gumbel, dim=-1)
