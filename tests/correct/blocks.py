"""blocks written another way: layer_norm with torch.var_mean(correction=0) and rsqrt;
the blocks register their submodules in another order than the reference and run their
sub-layers through one shared residual helper; the causal mask is built here with
torch.tril (not masking.causal_mask) and combined with torch.logical_and; the seq2seq
block gives its self-attention a [1, 1, Lq, Lq] mask."""

import torch
from ffn import FeedForward
from multihead import MultiHeadAttention
from torch import nn


def layer_norm(x, weight, bias, eps=1e-5):
    var, mean = torch.var_mean(x, dim=-1, correction=0, keepdim=True)
    return torch.addcmul(bias, (x - mean) * torch.rsqrt(var + eps), weight)


def _lower_triangle(L, device):
    return torch.tril(torch.ones(L, L, dtype=torch.bool, device=device))


def _post_ln(norm, x, sublayer, *args, **kwargs):
    return norm(x + sublayer(x, *args, **kwargs))


class EncoderBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model, eps=eps), nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff=d_ff, activation=activation)
        self.attn = MultiHeadAttention(d_model, n_heads)

    def forward(self, x, mask=None):
        for sublayer, norm, kwargs in ((self.attn, self.ln1, {"mask": mask}), (self.ffn, self.ln2, {})):
            x = _post_ln(norm, x, sublayer, **kwargs)
        return x


class DecoderBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ffn = FeedForward(d_model, d_ff=d_ff, activation=activation)
        self.ln1 = nn.LayerNorm(d_model, eps=eps)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)

    def forward(self, x, mask=None):
        allowed = _lower_triangle(x.shape[-2], x.device)
        if mask is not None:
            allowed = torch.logical_and(mask, allowed)
        h = self.ln1(x)
        x = self.attn(h, mask=allowed) + x
        h = self.ln2(x)
        return self.ffn(h) + x


class Seq2SeqDecoderBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads)
        self.cross_attn = MultiHeadAttention(d_model, n_heads)
        self.ffn = FeedForward(d_model, d_ff=d_ff, activation=activation)
        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(d_model, eps=eps) for _ in range(3))

    def forward(self, x, memory, memory_mask=None):
        causal = _lower_triangle(x.shape[1], x.device)[None, None]     # (1, 1, Lq, Lq)
        x = _post_ln(self.ln1, x, self.self_attn, mask=causal)
        x = _post_ln(self.ln2, x, self.cross_attn, kv=memory, mask=memory_mask)
        return _post_ln(self.ln3, x, self.ffn)
