"""Where a word stands / 位置编码.

Attention by itself ignores order: shuffle the words of a sentence and every word gets the
same attention output, just shuffled. So we give each position p a vector PE_p and add it
to the word's vector (E_input = E_v + PE_pos), or, as Llama-style models do, rotate the
queries and keys by an angle that grows with the position (RoPE), so that q·k only depends
on how far apart two words are.

Attention 机制本身不考虑词在序列中的位置。为每个位置预设一个向量 PE_pos 并加到词向量上
（E_input = E_v + PE_pos）；或者像 Llama 那样按位置旋转 query 和 key（RoPE），
使 q·k 只取决于两个词的相对距离。

Lecture: "🤗如何加入位置信息🧭?" (Position embedding: 为每一个位置预设一个向量 PE_pos).
"""

from __future__ import annotations

import torch
from torch import nn


def sinusoidal_positions(L: int, D: int, base: float = 10000.0) -> torch.Tensor:
    """Fixed sinusoidal position vectors (Attention Is All You Need) / 正弦位置编码.

    PE[p, 2i]   = sin(p / base^(2i/D))
    PE[p, 2i+1] = cos(p / base^(2i/D))        for p = 0..L-1, i = 0..D/2-1

    Even columns hold sines, odd columns cosines, both of the same angle; the angle's
    frequency falls from 1 (i = 0) to about 1/base (last pair).
    偶数列是 sin，奇数列是 cos，同一对使用同一个角度。

    Args:
        L: number of positions (>= 0).
        D: width, even.
        base: the wavelength base, 10000 in the paper.
    Returns:
        [L, D] in torch.get_default_dtype() (no input tensor to take a dtype from).
    Raises:
        ValueError: if D is odd, or L or D is negative.

    Lecture: "🤗如何加入位置信息🧭?" (E_input = E_v + PE_pos).
    """
    # TODO: a column of positions times a row of frequencies gives all angles (L, D/2);
    #       put sin(angles) into the even columns and cos(angles) into the odd ones.
    raise NotImplementedError("sinusoidal_positions")


class LearnedPositionalEmbedding(nn.Module):
    """One learned vector per position, added to the input / 可学习的位置向量.

    out[b, p] = x[b, p] + weight[p]      for p < L

    Args:
        max_len: the longest sequence the table covers.
        d_model: D.
    Attributes:
        weight: nn.Parameter (max_len, D), initialised from N(0, 0.02²) like GPT-2's wpe.

    Lecture: "🤗如何加入位置信息🧭?" (为每一个位置预设一个向量 PE_pos).
    """

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        # TODO: a trainable (max_len, d_model) table, small random values.
        raise NotImplementedError("LearnedPositionalEmbedding.__init__")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the first L position vectors to x / 把前 L 个位置向量加到 x 上.

        Args:
            x: [B, L, D] (any leading dims: [..., L, D]).
        Returns:
            [B, L, D] = x + weight[:L] (x itself is not modified).
        Raises:
            ValueError: if L > max_len.
        """
        # TODO: the rows for positions 0..L-1, broadcast over the batch.
        raise NotImplementedError("LearnedPositionalEmbedding.forward")


def apply_rope(x: torch.Tensor, positions: torch.Tensor | None = None,
               base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding, "rotate half" layout (Llama) / 旋转位置编码.

    inv_freq = base^(-(0, 2, ..., d-2)/d)                  (d/2,)
    angles   = positions ⊗ inv_freq                         (L, d/2)
    cos      = cat(cos(angles), cos(angles))                (L, d)   sin likewise
    out      = x * cos + rotate_half(x) * sin
    rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2])

    Feature j (j < d/2) is paired with feature j + d/2 (not with j + 1), and each pair is
    rotated by the angle positions[p] * inv_freq[j]. A rotation keeps the length of every
    vector, and q at position m dotted with k at position n depends only on m - n.
    第 j 维与第 j + d/2 维配成一对（不是相邻两维），按 position * inv_freq[j] 旋转；
    旋转不改变向量长度，且位置 m 的 q 与位置 n 的 k 的点积只依赖 m - n。

    Args:
        x: [..., L, d] queries or keys (one head's width d), d even.
        positions: Long[L], the position of each row; None means 0, 1, ..., L-1.
        base: 10000 as in Llama-1/2.
    Returns:
        [..., L, d], same dtype as x.
    Raises:
        ValueError: if d is odd, or positions does not have L entries.

    Lecture: "🤗如何加入位置信息🧭?"; the layout is that of transformers'
    models/llama/modeling_llama.py (rotate_half, apply_rotary_pos_emb).
    """
    # TODO: angles from positions and inv_freq; cos/sin duplicated to width d;
    #       rotate_half swaps the two halves and negates the (new) first one.
    raise NotImplementedError("apply_rope")
