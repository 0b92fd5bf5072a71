"""Exercise 6: the feed-forward network as a memory / 前馈网络：一块神经记忆.

Where does a model keep what it knows? As key-value pairs (k_i, v_i). A neural memory
looks x up by comparing it with every key and returns a mix of the values:

    p(k_i | x) ∝ exp(k_i · x),   MN(x) = Σ_i p(k_i | x) v_i = softmax(x Kᵀ) V

The feed-forward network of a Transformer layer is the same picture with two linear
layers: the first one's rows are the keys, the second one's columns are the values, and
the softmax is replaced by an activation f (ReLU or GELU):

    FFN(x) = f(x Kᵀ) V = down(f(up(x)))

The inner width is usually 4·D, so the two weight matrices hold 2 · D · 4D = 8·D²
parameters, twice the 4·D² of the attention layer.

模型的知识以键值对 (K, V) 的形式存储：用 x 查询每个 k_i，按 softmax(x Kᵀ) 加权求和 v_i。
前馈网络 FFN(x) = f(xKᵀ)V 用两个线性层实现同样的想法，中间宽度一般是 4·D，参数量 8·D²。

Lecture: "3. 如何在模型中存储知识？" and "🤗 Feedforward Neural Network".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from attention import softmax
from torch import nn


def neural_memory(x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Read a key-value memory / 读取键值记忆.

        MN(x) = softmax(x Kᵀ) V     (softmax over the N memory slots)

    Args:
        x: [..., D]      the query.
        keys: [N, D]     one key k_i per row.
        values: [N, Dv]  one value v_i per row.
    Returns:
        [..., Dv]: the values weighted by how well x matches each key.

    用 x 与每个 k_i 的点积经 softmax 得到 p(k_i|x)，再对 v_i 加权求和。

    Lecture: "🤗模型中知识存在何处？" (Neural Memory).
    """
    # TODO: scores of x against every key (last dim N), softmax over the N slots
    #       (your softmax from the attention exercise), then mix the values.
    raise NotImplementedError("neural_memory")


class FeedForward(nn.Module):
    """The position-wise feed-forward network / 逐位置前馈网络.

        FFN(x) = down(f(up(x)))     up: D -> d_ff (the keys), down: d_ff -> D (the values)

    Args (constructor):
        d_model: D.
        d_ff: the inner width; None means 4 * d_model.
        activation: "relu" or "gelu" (the exact, erf form: F.gelu with its default
            approximate="none"); anything else raises ValueError. Gradients are checked too;
            where up(x) is exactly 0, relu has no derivative and any subgradient is accepted
            (F.relu's 0, h.clamp(min=0)'s 1): the grader never puts an input at that kink.
    Submodules (names are part of the contract):
        up: nn.Linear(D, d_ff), down: nn.Linear(d_ff, D), both with bias.
    Shapes:
        forward(x: [..., D]) -> [..., D]; every position is transformed on its own.

    FFN(x) = f(xKᵀ)V：up 的每一行是一个 key，down 的每一列是一个 value；f 为 relu 或 gelu
    （精确的 erf 形式，不是 tanh 近似）。d_ff 默认 4·D。relu 在输入恰为 0 处不可导，任何次梯度都接受（F.relu 的 0，h.clamp(min=0) 的 1）。

    Lecture: "🤗 Feedforward Neural Network".
    """

    def __init__(self, d_model: int, d_ff: int | None = None, activation: str = "relu"):
        super().__init__()
        # TODO: default d_ff, validate and keep the activation name, create up and down.
        raise NotImplementedError("FeedForward.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the FFN to every position / 对每个位置做前馈变换.

        Args:
            x: [..., D]
        Returns:
            [..., D]
        """
        # TODO: up, then the activation, then down.
        raise NotImplementedError("FeedForward.forward")


def ffn_param_count(d_model: int, d_ff: int | None = None, bias: bool = True) -> int:
    """Number of parameters of a FeedForward / 前馈网络的参数量.

    Two weight matrices D x d_ff and d_ff x D, plus the biases d_ff and D when bias.
    d_ff defaults to 4 * d_model, which gives the lecture's 8·D² (without biases).

    Args:
        d_model: D.
        d_ff: inner width; None means 4 * d_model.
        bias: count the two bias vectors too.
    Returns:
        int: the count, equal to sum(p.numel() for p in FeedForward(D, d_ff).parameters())
        when bias is True.

    两个权重矩阵加（可选的）两个偏置；d_ff = 4·D 且不计偏置时正好是 8·D²。

    Lecture: "🤗 Feedforward Neural Network" (参数量：8 × embeddings dim²).
    """
    # TODO: count the weights of up and down, then the biases if asked.
    raise NotImplementedError("ffn_param_count")
