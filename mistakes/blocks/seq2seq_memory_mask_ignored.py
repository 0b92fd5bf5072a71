"""Your Seq2SeqDecoderBlock never passes memory_mask to the cross-attention, so padded memory positions are attended.

zh: 你的 seq2seq 解码器层没有把 memory_mask 传给交叉注意力，编码器输出中的 padding 也被注意到了。
catches: seq2seq_block_reference
"""

import torch
from ffn import FeedForward
from masking import causal_mask
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
        causal = causal_mask(x.shape[1], device=x.device)
        x = self.ln1(x + self.self_attn(x, mask=causal))
        x = self.ln2(x + self.cross_attn(x, kv=memory))
        return self.ln3(x + self.ffn(x))
