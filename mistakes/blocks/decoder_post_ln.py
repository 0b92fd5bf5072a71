"""Your DecoderBlock is post-LN (ln1(x + attn(x))); the GPT-2 style block is pre-LN: x + attn(ln1(x)).

zh: 你的 GPT 解码器层写成了 post-LN；GPT-2 风格是 pre-LN：x + attn(ln1(x))。
catches: decoder_block_reference
"""

import torch
from ffn import FeedForward
from masking import causal_mask
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
        causal = causal_mask(x.shape[1], device=x.device)
        mask = causal if mask is None else causal & mask
        x = self.ln1(x + self.attn(x, mask=mask))
        return self.ln2(x + self.ffn(x))
