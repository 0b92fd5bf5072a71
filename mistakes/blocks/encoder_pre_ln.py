"""Your EncoderBlock is pre-LN (x + attn(ln1(x))); the encoder here is post-LN: ln1(x + attn(x)).

zh: 你的编码器层写成了 pre-LN（x + attn(ln1(x))）；这里的编码器是 post-LN：ln1(x + attn(x))。
catches: encoder_block_reference
"""

import torch
from ffn import FeedForward
from multihead import MultiHeadAttention
from torch import nn


class EncoderBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.ffn(self.ln2(x))
