"""blocks written a second other way: layer_norm in float64 inside with the one-pass variance
E[x²] - E[x]² (clamped at 0), divided by sqrt(var + eps), cast back at the end; the encoder
block broadcasts its mask explicitly to [B, H, L, L] (H read from attn.n_heads) before the
attention; the GPT block keeps a causal mask in a non-persistent bool buffer that grows on
demand, cut to [L, L], and ANDs it with masking.combine_masks; the seq2seq block builds its
causal mask from an arange comparison and runs its three post-LN steps from a table of
closures; submodules are registered through setattr from a list; every block remembers
d_model and n_heads as plain attributes and has an extra_repr."""

import torch
from ffn import FeedForward
from masking import combine_masks
from multihead import MultiHeadAttention
from torch import nn


def layer_norm(x, weight, bias, eps=1e-5):
    x64 = x.to(torch.float64)
    mean = x64.mean(dim=-1, keepdim=True)
    mean_sq = (x64 * x64).mean(dim=-1, keepdim=True)
    var = (mean_sq - mean * mean).clamp_min(0.0)
    y = (x64 - mean) / (var + eps).sqrt()
    return (y * weight.to(torch.float64) + bias.to(torch.float64)).to(x.dtype)


def _register(module, parts):
    for name, sub in parts:
        setattr(module, name, sub)


class _Block(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.d_model, self.n_heads = d_model, n_heads

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.n_heads}"


class EncoderBlock(_Block):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__(d_model, n_heads)
        _register(self, [
            ("ffn", FeedForward(d_model, d_ff, activation)),
            ("ln2", nn.LayerNorm(d_model, eps=eps)),
            ("attn", MultiHeadAttention(d_model, n_heads)),
            ("ln1", nn.LayerNorm(d_model, eps=eps)),
        ])

    def forward(self, x, mask=None):
        if mask is not None:
            B, L = x.shape[0], x.shape[1]
            mask = torch.broadcast_to(mask, (B, self.attn.n_heads, L, L))
        attended = self.attn(x, mask=mask)
        h = self.ln1(attended + x)
        return self.ln2(self.ffn(h) + h)


class DecoderBlock(_Block):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__(d_model, n_heads)
        _register(self, [
            ("attn", MultiHeadAttention(d_model, n_heads)),
            ("ln2", nn.LayerNorm(d_model, eps=eps)),
            ("ffn", FeedForward(d_model, d_ff, activation)),
            ("ln1", nn.LayerNorm(d_model, eps=eps)),
        ])
        self.register_buffer("_causal", torch.ones(1, 1, dtype=torch.bool), persistent=False)

    def _causal_mask(self, L, device):
        if self._causal.shape[0] < L or self._causal.device != device:
            n = max(L, 2 * self._causal.shape[0])
            self._causal = torch.ones(n, n, dtype=torch.bool, device=device).triu(1).logical_not()
        return self._causal[:L, :L]

    def forward(self, x, mask=None):
        allowed = combine_masks(self._causal_mask(x.shape[1], x.device), mask)
        x = torch.add(x, self.attn(self.ln1(x), mask=allowed))
        return torch.add(x, self.ffn(self.ln2(x)))


class Seq2SeqDecoderBlock(_Block):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__(d_model, n_heads)
        _register(self, [(f"ln{i}", nn.LayerNorm(d_model, eps=eps)) for i in (3, 2, 1)])
        _register(self, [
            ("cross_attn", MultiHeadAttention(d_model, n_heads)),
            ("ffn", FeedForward(d_model, d_ff, activation)),
            ("self_attn", MultiHeadAttention(d_model, n_heads)),
        ])

    def forward(self, x, memory, memory_mask=None):
        pos = torch.arange(x.shape[1], device=x.device)
        causal = pos.unsqueeze(1) >= pos.unsqueeze(0)                    # (Lq, Lq)
        steps = (
            (self.ln1, lambda h: self.self_attn(h, None, causal)),
            (self.ln2, lambda h: self.cross_attn(h, memory, memory_mask)),
            (self.ln3, self.ffn),
        )
        for norm, sublayer in steps:
            x = norm(sublayer(x) + x)
        return x
