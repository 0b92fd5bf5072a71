"""multihead written another way: split_heads with unflatten + permute, merge_heads with
permute + flatten; MultiHeadAttention's projections registered through a loop and its
attention taken from a helper module (helpers_multihead.attend: einsum in float64, masked_fill
with -1e9); repeat_kv Llama-style via expand + reshape; GroupedQueryAttention without repeat_kv:
the query heads are viewed as [B, Hkv, n_rep, L, dh] groups that broadcast against their one kv
head in an einsum, the mask broadcast to [B, H, L, L] and viewed the same way, masked scores
filled with -inf, probabilities as exp(s - logsumexp(s))."""

import torch
from helpers_multihead import attend
from torch import nn


def split_heads(x, n_heads):
    if x.shape[-1] % n_heads:
        raise ValueError(f"n_heads={n_heads} does not divide the width {x.shape[-1]}")
    return x.unflatten(-1, (n_heads, x.shape[-1] // n_heads)).permute(0, 2, 1, 3)


def merge_heads(x):
    return x.permute(0, 2, 1, 3).flatten(start_dim=2)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if n_heads <= 0 or d_model % n_heads:
            raise ValueError(f"n_heads={n_heads} must be positive and divide d_model={d_model}")
        self.n_heads = n_heads
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            self.add_module(name, nn.Linear(d_model, d_model, bias=bias))

    def forward(self, x, kv=None, mask=None, need_weights=False):
        src = x if kv is None else kv
        q = split_heads(self.q_proj(x), self.n_heads)
        k = split_heads(self.k_proj(src), self.n_heads)
        v = split_heads(self.v_proj(src), self.n_heads)
        heads, probs = attend(q, k, v, mask)
        out = self.o_proj(merge_heads(heads))
        if need_weights:
            return out, probs
        return out


def repeat_kv(x, n_rep):
    if n_rep < 1:
        raise ValueError(f"n_rep must be a positive integer, got {n_rep}")
    if n_rep == 1:
        return x
    B, Hkv, L, dh = x.shape
    return x[:, :, None, :, :].expand(B, Hkv, n_rep, L, dh).reshape(B, Hkv * n_rep, L, dh)


class GroupedQueryAttention(nn.Module):
    def __init__(self, d_model, n_heads, n_kv_heads, bias=False):
        super().__init__()
        if n_heads <= 0 or n_kv_heads <= 0:
            raise ValueError("n_heads and n_kv_heads must be positive")
        if d_model % n_heads or n_heads % n_kv_heads:
            raise ValueError(f"need d_model % n_heads == 0 and n_heads % n_kv_heads == 0, got "
                             f"d_model={d_model}, n_heads={n_heads}, n_kv_heads={n_kv_heads}")
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        kv_width = n_kv_heads * (d_model // n_heads)
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, kv_width, bias=bias)
        self.v_proj = nn.Linear(d_model, kv_width, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, mask=None):
        B, L, _ = x.shape
        H, G = self.n_heads, self.n_kv_heads
        R = H // G
        q = split_heads(self.q_proj(x), H)                   # [B, H, L, dh]
        dh = q.shape[-1]
        q = q.reshape(B, G, R, L, dh)                        # query heads grouped by kv head
        k = split_heads(self.k_proj(x), G)                   # [B, G, L, dh]
        v = split_heads(self.v_proj(x), G)
        scores = torch.einsum("bgrqd,bgkd->bgrqk", q, k) / dh ** 0.5
        if mask is not None:
            m = torch.broadcast_to(mask, (B, H, L, L)).reshape(B, G, R, L, L)
            scores = scores.masked_fill(~m, float("-inf"))
        probs = torch.exp(scores - torch.logsumexp(scores, dim=-1, keepdim=True))
        out = torch.einsum("bgrqk,bgkd->bgrqd", probs, v).reshape(B, H, L, dh)
        return self.o_proj(merge_heads(out))
