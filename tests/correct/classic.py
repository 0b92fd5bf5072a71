"""classic written another way: TextCNN takes the max over time BEFORE the ReLU (ReLU is
monotonic, so max_t relu(z_t) = relu(max_t z_t)), uses Tensor.max(...).values and permute,
and concatenates into a list it fills in a loop; SimpleRNN draws its parameters as
(2·rand - 1)·bound, projects all inputs at once with einsum before the loop, and does each
recurrent step with F.linear on W_hh."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class TextCNN(nn.Module):
    def __init__(self, vocab_size, dim, num_labels, kernel_sizes=(2, 3, 4), channels=16):
        super().__init__()
        self.kernel_sizes = tuple(kernel_sizes)
        self.emb = nn.Embedding(vocab_size, dim)
        self.convs = nn.ModuleList()
        for k in self.kernel_sizes:
            self.convs.append(nn.Conv1d(in_channels=dim, out_channels=channels, kernel_size=k))
        self.proj = nn.Linear(channels * len(self.kernel_sizes), num_labels)

    def forward(self, ids):
        if ids.shape[1] < max(self.kernel_sizes):
            raise ValueError(f"need at least {max(self.kernel_sizes)} tokens, got {ids.shape[1]}")
        e = self.emb(ids).permute(0, 2, 1)                  # (B, dim, L)
        pooled = []
        for conv in self.convs:
            pooled.append(F.relu(conv(e).max(dim=2).values))  # (B, channels)
        return self.proj(torch.cat(pooled, dim=1))


class SimpleRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        bound = 1.0 / math.sqrt(hidden_size)

        def uniform(*shape):
            return nn.Parameter((2 * torch.rand(*shape) - 1) * bound)

        self.b_ih, self.b_hh = uniform(hidden_size), uniform(hidden_size)
        self.W_ih, self.W_hh = uniform(hidden_size, input_size), uniform(hidden_size, hidden_size)

    def forward(self, x, h0=None):
        H, I = self.W_ih.shape
        if x.ndim != 3 or x.size(-1) != I or x.size(1) < 1:
            raise ValueError(f"expected x of shape [B, L >= 1, {I}], got {list(x.shape)}")
        B = x.size(0)
        h = torch.zeros(B, H, dtype=x.dtype, device=x.device) if h0 is None else h0
        if tuple(h.shape) != (B, H):
            raise ValueError(f"expected h0 of shape [{B}, {H}], got {list(h.shape)}")
        inputs = torch.einsum("bli,hi->blh", x, self.W_ih) + self.b_ih     # every x_t W_ihᵀ + b_ih
        states = []
        for t in range(x.size(1)):
            h = torch.tanh(inputs[:, t] + F.linear(h, self.W_hh, self.b_hh))
            states.append(h)
        return torch.stack(states, dim=1), states[-1]
