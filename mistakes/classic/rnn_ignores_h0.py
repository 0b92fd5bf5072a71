"""Your SimpleRNN ignores h0 and always starts from zeros.

zh: 你的 SimpleRNN 忽略了 h0，总是从全零状态开始。
catches: rnn_reference, rnn_properties
"""
import math

import torch
from torch import nn


class SimpleRNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        bound = 1 / math.sqrt(hidden_size)
        self.W_ih = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_ih = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        self.b_hh = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        hidden, inp = self.W_ih.shape
        if x.dim() != 3 or x.shape[1] == 0 or x.shape[2] != inp:
            raise ValueError(f"x must be [B, L >= 1, {inp}], got {tuple(x.shape)}")
        B, L = x.shape[0], x.shape[1]
        if h0 is None:
            h0 = x.new_zeros(B, hidden)
        if h0.shape != (B, hidden):
            raise ValueError(f"h0 must be [{B}, {hidden}], got {tuple(h0.shape)}")
        h, outputs = x.new_zeros(B, hidden), []
        for t in range(L):
            h = torch.tanh(x[:, t] @ self.W_ih.T + self.b_ih + h @ self.W_hh.T + self.b_hh)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h
