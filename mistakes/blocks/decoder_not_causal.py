"""Your DecoderBlock is not causal: a position can attend to tokens after it.

zh: 你的解码器层没有因果掩码：每个词都能看到它后面的词（Masked Attention 只能加权到之前的词）。
catches: decoder_block_reference, decoder_block_causal
"""

import torch
from ffn import FeedForward
from multihead import MultiHeadAttention
from torch import nn


class DecoderBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, eps=eps)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.ffn(self.ln2(x))
