"""Your Seq2SeqDecoderBlock's self-attention is not causal: the decoder can see its future tokens.

zh: 你的 seq2seq 解码器层的自注意力没有因果掩码，解码器能看到未来的词。
catches: seq2seq_block_reference
"""

import torch
from ffn import FeedForward
from multihead import MultiHeadAttention
from torch import nn


class Seq2SeqDecoderBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff=None, activation="gelu", eps=1e-5):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = nn.LayerNorm(d_model, eps=eps)
        self.cross_attn = MultiHeadAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation)
        self.ln3 = nn.LayerNorm(d_model, eps=eps)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.ln1(x + self.self_attn(x))
        x = self.ln2(x + self.cross_attn(x, kv=memory, mask=memory_mask))
        return self.ln3(x + self.ffn(x))
