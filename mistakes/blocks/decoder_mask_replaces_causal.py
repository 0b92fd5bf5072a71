"""Your DecoderBlock uses the given mask instead of the causal mask; it must be AND-ed with it.

zh: 传入 mask 时你的解码器层用它替换了因果掩码；应该与因果掩码取“与”。
catches: decoder_block_reference, decoder_block_causal
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
        if mask is None:
            mask = causal_mask(x.shape[1], device=x.device)
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.ffn(self.ln2(x))
