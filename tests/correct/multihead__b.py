"""multihead written a second other way: split_heads as torch.stack of x.chunk(H, dim=-1) (a
copy, not a view) and merge_heads as torch.cat of the heads' unbind; MultiHeadAttention creates
o_proj first, keeps d_model, head_dim and scale as plain attributes, flattens (B, H) into one
batch axis and takes the scores with torch.baddbmm(bias, q, kᵀ, alpha=scale), where bias is a
float 0 / -inf mask broadcast to [B, H, Lq, Lk], then torch.softmax (this exercise bans
nothing); repeat_kv as index_select with the head index arange(H) // n_rep (always a new tensor,
n_rep == 1 included); GroupedQueryAttention never repeats k and v itself: it hands the Hkv heads
to torch.nn.functional.scaled_dot_product_attention(enable_gqa=True), which pairs query head h
with kv head h // n_rep."""

import torch
import torch.nn.functional as F
from torch import nn


def split_heads(x, n_heads):
    if n_heads < 1 or x.shape[-1] % n_heads != 0:
        raise ValueError(f"split_heads: width {x.shape[-1]} cannot be split into {n_heads} heads")
    return torch.stack(x.chunk(n_heads, dim=-1), dim=1)            # [B, H, L, dh]


def merge_heads(x):
    return torch.cat(x.unbind(dim=1), dim=-1)                       # [B, L, H*dh]


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        if not (isinstance(n_heads, int) and n_heads > 0 and d_model % n_heads == 0):
            raise ValueError(f"MultiHeadAttention: n_heads={n_heads} must be >= 1 and divide d_model={d_model}")
        self.d_model, self.n_heads = d_model, n_heads
        self.head_dim = d_model // n_heads
        self.scale = self.head_dim ** -0.5
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.n_heads}, head_dim={self.head_dim}"

    def forward(self, x, kv=None, mask=None, need_weights=False):
        src = x if kv is None else kv
        B, Lq, Lk, H = x.shape[0], x.shape[1], src.shape[1], self.n_heads
        q = split_heads(self.q_proj(x), H).reshape(B * H, Lq, self.head_dim)
        k = split_heads(self.k_proj(src), H).reshape(B * H, Lk, self.head_dim)
        v = split_heads(self.v_proj(src), H).reshape(B * H, Lk, self.head_dim)
        bias = torch.zeros(B, H, Lq, Lk, dtype=q.dtype, device=q.device)
        if mask is not None:
            bias = bias.masked_fill(~torch.broadcast_to(mask, (B, H, Lq, Lk)), float("-inf"))
        scores = torch.baddbmm(bias.reshape(B * H, Lq, Lk), q, k.transpose(1, 2), alpha=self.scale)
        probs = torch.softmax(scores, dim=-1)
        heads = torch.bmm(probs, v).reshape(B, H, Lq, self.head_dim)
        out = self.o_proj(merge_heads(heads))
        return (out, probs.reshape(B, H, Lq, Lk)) if need_weights else out


def repeat_kv(x, n_rep):
    if not n_rep >= 1:
        raise ValueError(f"repeat_kv: n_rep must be >= 1, got {n_rep}")
    index = torch.arange(x.shape[1] * n_rep, device=x.device) // n_rep     # 0,0,..,1,1,..
    return x.index_select(1, index)


class GroupedQueryAttention(nn.Module):
    def __init__(self, d_model, n_heads, n_kv_heads, bias=False):
        super().__init__()
        problems = []
        if n_heads < 1 or d_model % n_heads:
            problems.append(f"n_heads={n_heads} must divide d_model={d_model}")
        if n_kv_heads < 1 or (n_heads >= 1 and n_heads % n_kv_heads):
            problems.append(f"n_kv_heads={n_kv_heads} must divide n_heads={n_heads}")
        if problems:
            raise ValueError("GroupedQueryAttention: " + "; ".join(problems))
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        kv_width = n_kv_heads * self.head_dim
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, kv_width, bias=bias)
        self.k_proj = nn.Linear(d_model, kv_width, bias=bias)

    def forward(self, x, mask=None):
        q = split_heads(self.q_proj(x), self.n_heads)               # [B, H, L, dh]
        k = split_heads(self.k_proj(x), self.n_kv_heads)            # [B, Hkv, L, dh]
        v = split_heads(self.v_proj(x), self.n_kv_heads)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
        return self.o_proj(merge_heads(out))
