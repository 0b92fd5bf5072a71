"""Before attention: TextCNN and RNN (bonus) / 注意力之前：TextCNN 与 RNN（附加题）.

Two older ways to turn the word vectors of a sentence into features. TextCNN slides
filters of a few widths over the sentence (n-gram detectors) and keeps, for each filter,
its strongest response anywhere in the sentence. An RNN reads the sentence left to right
and carries a hidden state h_t that summarises everything read so far — which is why far
apart words are hard for it (long-distance dependency) and why attention came next.

两种更早的做法。TextCNN 用几种宽度的卷积核在句子上滑动（n-gram 检测器），每个卷积核只保留
它在整句中的最强响应。RNN 从左到右读句子，用隐状态 h_t 概括已读内容；距离很远的词因此难以
建立联系（长距离依赖），这正是注意力要解决的问题。

Lecture: "🤗TextCNN" (使用卷积来聚合特征), "🤗RNN" (预测下一个词), "🤗长距离依赖？".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TextCNN(nn.Module):
    """Convolutional sentence classifier (Kim, 2014) / 卷积文本分类器.

    e    = emb(ids)                                 [B, L, dim]
    f_k  = max_t ReLU(conv_k(e))                    [B, channels]  for each kernel size k
    out  = proj(cat(f_k for k in kernel_sizes))     [B, num_labels]

    nn.Conv1d wants channels first: [B, dim, L]. With no padding, a kernel of size k gives
    L - k + 1 time steps; the max over time keeps each filter's strongest match.
    nn.Conv1d 需要通道在前 [B, dim, L]；无填充时宽度 k 的卷积输出 L - k + 1 步，
    再在时间维上取最大值。

    Args:
        vocab_size: V.
        dim: embedding width (the convolutions' in_channels).
        num_labels: number of classes.
        kernel_sizes: filter widths, one nn.Conv1d each.
        channels: out_channels of every convolution.
    Attributes (names are part of the contract):
        emb: nn.Embedding(vocab_size, dim)
        convs: nn.ModuleList of nn.Conv1d(dim, channels, k), one per k, in kernel_sizes order
        proj: nn.Linear(len(kernel_sizes) * channels, num_labels)

    Lecture: "🤗TextCNN".
    """

    def __init__(self, vocab_size: int, dim: int, num_labels: int,
                 kernel_sizes: tuple[int, ...] = (2, 3, 4), channels: int = 16):
        super().__init__()
        # TODO: the three submodules named above (no padding, with bias).
        # BEGIN SOLUTION
        self.emb = nn.Embedding(vocab_size, dim)
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, k) for k in kernel_sizes)
        self.proj = nn.Linear(len(kernel_sizes) * channels, num_labels)
        # END SOLUTION

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Classify each sentence / 对每个句子分类.

        Args:
            ids: Long[B, L] with L >= max(kernel_sizes).
        Returns:
            [B, num_labels] logits (no softmax).
        Raises:
            ValueError: if L < the largest kernel size (a filter would not fit).
        """
        # TODO: embed, move the width to the channel axis, and for each convolution:
        #       ReLU, then max over time; concatenate in kernel-size order; project.
        # BEGIN SOLUTION
        longest = max(conv.kernel_size[0] for conv in self.convs)
        if ids.shape[-1] < longest:
            raise ValueError(f"sequence length {ids.shape[-1]} < largest kernel size {longest}")
        e = self.emb(ids).transpose(1, 2)                               # (B, dim, L)
        feats = [F.relu(conv(e)).amax(dim=-1) for conv in self.convs]   # each (B, channels)
        return self.proj(torch.cat(feats, dim=-1))
        # END SOLUTION


class SimpleRNN(nn.Module):
    """An Elman RNN, written out step by step / 逐步展开的简单 RNN.

    h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh),   h_{-1} = h0 (zeros by default)

    Same numbers as nn.RNN(input_size, hidden_size, batch_first=True) given the same
    weights (nn.RNN's weight_ih_l0 is our W_ih, and so on); note that h0 here is
    [B, hidden], without nn.RNN's leading num_layers axis.
    与 nn.RNN(batch_first=True) 在相同权重下结果一致；这里 h0 的形状是 [B, hidden]。

    Args:
        input_size: width of each x_t.
        hidden_size: width of the hidden state.
    Attributes (nn.Parameter, initialised like nn.RNN: U(-1/√hidden, 1/√hidden)):
        W_ih: (hidden, input)    b_ih: (hidden,)
        W_hh: (hidden, hidden)   b_hh: (hidden,)

    Banned here: nn.RNN, nn.RNNCell (and the built-in steps torch.rnn_tanh, torch.rnn_tanh_cell).

    Lecture: "🤗RNN" (预测下一个词) and "🤗长距离依赖？".
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        # TODO: the four parameters above, uniform in ±1/sqrt(hidden_size).
        # BEGIN SOLUTION
        bound = 1 / math.sqrt(hidden_size)
        self.W_ih = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_ih = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        self.b_hh = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        # END SOLUTION

    def forward(self, x: torch.Tensor,
                h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over the sequence / 沿序列逐步计算.

        Args:
            x: [B, L, input_size] with L >= 1.
            h0: [B, hidden] initial state; None means zeros.
        Returns:
            (outputs [B, L, hidden] with outputs[:, t] = h_t, h_last [B, hidden] = h_{L-1}).
        Raises:
            ValueError: if x is not [B, L, input_size] with L >= 1, or h0 is not [B, hidden].
        """
        # TODO: loop over t, feeding each new h back in; stack the h_t along dim 1.
        # BEGIN SOLUTION
        hidden, inp = self.W_ih.shape
        if x.dim() != 3 or x.shape[1] == 0 or x.shape[2] != inp:
            raise ValueError(f"x must be [B, L >= 1, {inp}], got {tuple(x.shape)}")
        B, L = x.shape[0], x.shape[1]
        if h0 is None:
            h0 = x.new_zeros(B, hidden)
        if h0.shape != (B, hidden):
            raise ValueError(f"h0 must be [{B}, {hidden}], got {tuple(h0.shape)}")
        h, outputs = h0, []
        for t in range(L):
            h = torch.tanh(x[:, t] @ self.W_ih.T + self.b_ih + h @ self.W_hh.T + self.b_hh)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h                          # (B, L, hidden)
        # END SOLUTION
