"""classic written a second other way: TextCNN registers proj first and the convolutions from a
dict comprehension turned into a ModuleList, checks the length against the convs' own
kernel_size, ReLUs with clamp_min(0) and max-pools with F.max_pool1d over the whole time axis,
then concatenates with torch.hstack; SimpleRNN registers its parameters with register_parameter
in another order, draws them with nn.init.uniform_, runs its recurrence in float64 inside (cast
back at the end) with torch.addmm, writes each step into a preallocated [B, L, H] tensor by
index assignment, and returns outputs[:, -1] (a view) as h_last."""

import torch
import torch.nn.functional as F
from torch import nn


class TextCNN(nn.Module):
    def __init__(self, vocab_size, dim, num_labels, kernel_sizes=(2, 3, 4), channels=16):
        super().__init__()
        sizes = list(kernel_sizes)
        self.proj = nn.Linear(channels * len(sizes), num_labels)
        by_position = {i: nn.Conv1d(dim, channels, kernel_size=k, padding=0, bias=True)
                       for i, k in enumerate(sizes)}
        self.convs = nn.ModuleList([by_position[i] for i in range(len(sizes))])
        self.emb = nn.Embedding(vocab_size, dim)

    def forward(self, ids):
        need = max(c.kernel_size[0] for c in self.convs)
        L = ids.size(-1)
        if L < need:
            raise ValueError(f"TextCNN: {L} tokens, but the widest filter spans {need}")
        e = self.emb(ids).transpose(-1, -2).contiguous()                  # (B, dim, L)
        pooled = []
        for conv in self.convs:
            z = conv(e).clamp_min(0)                                       # (B, C, L - k + 1)
            pooled.append(F.max_pool1d(z, kernel_size=z.shape[-1]).squeeze(-1))
        return self.proj(torch.hstack(pooled))


class SimpleRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = hidden_size ** -0.5
        shapes = (("b_hh", (hidden_size,)), ("W_hh", (hidden_size, hidden_size)),
                  ("b_ih", (hidden_size,)), ("W_ih", (hidden_size, input_size)))
        for name, shape in shapes:
            p = nn.Parameter(torch.empty(shape))
            nn.init.uniform_(p, -bound, bound)
            self.register_parameter(name, p)

    def forward(self, x, h0=None):
        H, I = self.W_ih.shape
        if x.dim() != 3 or x.shape[-1] != I or x.shape[1] < 1:
            raise ValueError(f"SimpleRNN: x must be [B, L >= 1, {I}], got {list(x.shape)}")
        B, L = x.shape[0], x.shape[1]
        if h0 is not None and tuple(h0.shape) != (B, H):
            raise ValueError(f"SimpleRNN: h0 must be [{B}, {H}], got {list(h0.shape)}")
        f64 = torch.float64
        w_ih, w_hh = self.W_ih.to(f64), self.W_hh.to(f64)
        bias = (self.b_ih + self.b_hh).to(f64)
        h = x.new_zeros(B, H, dtype=f64) if h0 is None else h0.to(f64)
        outputs = x.new_empty(B, L, H, dtype=f64)
        for t in range(L):
            pre = torch.addmm(bias, x[:, t].to(f64), w_ih.t())
            h = torch.tanh(torch.addmm(pre, h, w_hh.t()))
            outputs[:, t] = h
        outputs = outputs.to(x.dtype)
        return outputs, outputs[:, -1]
