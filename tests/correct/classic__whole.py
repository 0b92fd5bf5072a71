"""Before attention: TextCNN and a hand-written RNN -- a whole-file rewrite of classic.py.

Written from scratch, in another style than the reference:
- TextCNN's convolutions are an ``nn.Conv1d`` subclass (``_NGramDetector``) whose forward
  calls ``super().forward`` and then does ReLU + max over time itself; the length check
  reads ``max(kernel_sizes)`` kept at construction;
- SimpleRNN has a ``reset_parameters`` (like nn.RNN) using ``nn.init.uniform_``, returns a
  ``NamedTuple``, and runs each step through a ``torch.jit.script``-compiled function;
  a ``from_torch`` classmethod (annotated with the torch class, never calling it) copies
  weights out of a torch RNN for the self-test;
- a module-level helper ``_torch_reference`` builds a torch RNN for comparison: it is
  NOT used by SimpleRNN (the ban is scoped to SimpleRNN), only by the ``__main__`` block;
- ``__all__``, a print at import, keyword-only ``device``/``dtype`` extras.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["TextCNN", "SimpleRNN", "RNNOutput"]

print("classic: whole-file submission imported")


class _NGramDetector(nn.Conv1d):
    """One filter width: conv, ReLU, then the strongest response over time -> [B, channels]."""

    def forward(self, input: Tensor) -> Tensor:
        z = super().forward(input)  # [B, channels, L - k + 1]
        return torch.relu(z).max(dim=-1).values


class TextCNN(nn.Module):
    """Kim (2014): embed, n-gram filters of several widths, max over time, concat, linear."""

    def __init__(self, vocab_size: int, dim: int, num_labels: int,
                 kernel_sizes: Sequence[int] = (2, 3, 4), channels: int = 16, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        sizes = tuple(int(k) for k in kernel_sizes)
        self.kernel_sizes = sizes
        self._longest = max(sizes)
        factory = {"device": device, "dtype": dtype}
        self.emb = nn.Embedding(vocab_size, dim, **factory)
        self.convs = nn.ModuleList([_NGramDetector(dim, channels, k, **factory) for k in sizes])
        self.proj = nn.Linear(len(sizes) * channels, num_labels, **factory)

    def forward(self, ids: Tensor) -> Tensor:
        if ids.size(-1) < self._longest:
            raise ValueError(f"TextCNN: {ids.size(-1)} tokens, but the widest filter needs {self._longest}")
        e = self.emb(ids).permute(0, 2, 1)  # [B, dim, L]
        return self.proj(torch.cat([detect(e) for detect in self.convs], dim=1))


class RNNOutput(NamedTuple):
    outputs: Tensor  # [B, L, hidden]
    h_last: Tensor  # [B, hidden]


@torch.jit.script
def _elman_step(x_t: Tensor, h: Tensor, W_ih: Tensor, b_ih: Tensor, W_hh: Tensor, b_hh: Tensor) -> Tensor:
    return torch.tanh(torch.matmul(x_t, W_ih.t()) + b_ih + torch.matmul(h, W_hh.t()) + b_hh)


class SimpleRNN(nn.Module):
    """h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), written out step by step."""

    def __init__(self, input_size: int, hidden_size: int, *, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.W_ih = nn.Parameter(torch.empty(hidden_size, input_size, dtype=dtype))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, dtype=dtype))
        self.b_ih = nn.Parameter(torch.empty(hidden_size, dtype=dtype))
        self.b_hh = nn.Parameter(torch.empty(hidden_size, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        a = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -a, a)

    @classmethod
    def from_torch(cls, rnn: nn.RNN) -> SimpleRNN:
        """A SimpleRNN holding a copy of a one-layer torch RNN's weights (for testing)."""
        me = cls(rnn.input_size, rnn.hidden_size)
        with torch.no_grad():
            me.W_ih.copy_(rnn.weight_ih_l0)
            me.W_hh.copy_(rnn.weight_hh_l0)
            me.b_ih.copy_(rnn.bias_ih_l0)
            me.b_hh.copy_(rnn.bias_hh_l0)
        return me

    def forward(self, x: Tensor, h0: Tensor | None = None) -> RNNOutput:
        if x.ndim != 3 or x.shape[1] < 1 or x.shape[2] != self.W_ih.shape[1]:
            raise ValueError(f"SimpleRNN: x must be [B, L >= 1, {self.W_ih.shape[1]}], got {list(x.shape)}")
        B = x.shape[0]
        H = self.W_hh.shape[0]
        h = torch.zeros(B, H, dtype=x.dtype, device=x.device) if h0 is None else h0
        if tuple(h.shape) != (B, H):
            raise ValueError(f"SimpleRNN: h0 must be [{B}, {H}], got {list(h.shape)}")
        states: list[Tensor] = []
        for x_t in x.unbind(dim=1):
            h = _elman_step(x_t, h, self.W_ih, self.b_ih, self.W_hh, self.b_hh)
            states.append(h)
        return RNNOutput(torch.stack(states, dim=1), h)


def _torch_reference(input_size: int, hidden_size: int) -> nn.Module:
    """torch's own RNN, for the self-test below (not used by SimpleRNN)."""
    return nn.RNN(input_size, hidden_size, batch_first=True)


if __name__ == "__main__":
    torch.manual_seed(0)
    ref = _torch_reference(3, 5)
    mine = SimpleRNN.from_torch(ref)
    x = torch.randn(2, 7, 3)
    want, want_h = ref(x)
    got, got_h = mine(x)
    print(torch.allclose(got, want, atol=1e-6), torch.allclose(got_h, want_h[0], atol=1e-6))
    print(TextCNN(20, 6, 3)(torch.randint(0, 20, (2, 9))).shape)
