"""heads written a second other way: LMHead builds its nn.Linear on the meta device when it is
tied (no throw-away weight is drawn) and assigns the tied Parameter afterwards; the
classification head keeps no `pooling` string but a bound pooling method, pools "cls" with
narrow and "mean" with torch.where and normalised weights (no clamp: an all-padding row is
outside the contract); sample_next_token samples by inverse CDF: it sorts the logits once,
keeps the first top_k, forms unnormalised weights exp(z - max) in float64, draws one uniform
per row from the generator scaled by the row's total, searches the cumulative sums and maps
the position back through the sort's indices."""

import torch
from torch import nn


class LMHead(nn.Module):
    def __init__(self, d_model, vocab_size, tied_weight=None):
        super().__init__()
        if tied_weight is None:
            self.proj = nn.Linear(d_model, vocab_size, bias=False)
            return
        if list(tied_weight.shape) != [vocab_size, d_model]:
            raise ValueError(f"LMHead: tied_weight must be [{vocab_size}, {d_model}] (V, D), "
                             f"got {list(tied_weight.shape)}")
        self.proj = nn.Linear(d_model, vocab_size, bias=False, device="meta")
        self.proj.weight = tied_weight

    def forward(self, h):
        return self.proj(h)


class ClassificationHead(nn.Module):
    def __init__(self, d_model, num_labels, pooling="cls"):
        super().__init__()
        pools = {"cls": self._first, "mean": self._mean}
        if pooling not in pools:
            raise ValueError(f"ClassificationHead: pooling must be 'cls' or 'mean', not {pooling!r}")
        self._pool = pools[pooling]
        self.proj = nn.Linear(d_model, num_labels)

    @staticmethod
    def _first(h, attention_mask):
        return h.narrow(1, 0, 1).squeeze(1)

    @staticmethod
    def _mean(h, attention_mask):
        if attention_mask is None:
            return h.mean(dim=-2)
        m = attention_mask.to(h.dtype)
        w = m / m.sum(dim=-1, keepdim=True)                               # (B, L), rows sum to 1
        return (torch.where(attention_mask.unsqueeze(-1), h, 0.0) * w.unsqueeze(-1)).sum(dim=-2)

    def forward(self, h, attention_mask=None):
        return self.proj(self._pool(h, attention_mask))


def sample_next_token(logits, temperature=1.0, top_k=None, generator=None):
    if temperature < 0:
        raise ValueError(f"sample_next_token: temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample_next_token: top_k must be None or >= 1, got {top_k}")
    if temperature == 0:
        return logits.max(dim=-1).indices
    order = torch.argsort(logits, dim=-1, descending=True)               # (B, V)
    z = logits.gather(-1, order).to(torch.float64) / temperature
    if top_k is not None:
        z = z[:, :top_k]                                                 # k >= V keeps all
    w = torch.exp(z - z[:, :1])                                          # sorted: column 0 is the max
    cdf = w.cumsum(dim=-1)                                               # (B, k)
    u = torch.rand(cdf.shape[0], 1, generator=generator, dtype=torch.float64, device=cdf.device)
    pos = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)          # first cdf > u * total
    pos = pos.clamp(max=cdf.shape[-1] - 1)
    return order.gather(-1, pos).squeeze(-1)
