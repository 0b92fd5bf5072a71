"""Your MiniBERT ignores attention_mask: real tokens still attend to the padding.

zh: 你的 MiniBERT 没有使用 attention_mask：真实的词仍然会"看到" padding，结果随 padding 的内容而变。
catches: minibert_encode_reference, minibert_reference, minibert_padding
"""

import torch
from blocks import EncoderBlock
from heads import LMHead
from torch import nn


class MiniBERT(nn.Module):
    def __init__(self, vocab_size, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.ln_emb = nn.LayerNorm(d_model)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_heads, d_ff, activation="gelu") for _ in range(n_layers)
        )
        self.lm_head = LMHead(d_model, vocab_size, tied_weight=self.tok_emb.weight)

    def encode(self, ids, attention_mask=None):
        L = ids.shape[1]
        if L > self.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len {self.max_len}")
        pos = torch.arange(L, device=ids.device)
        x = self.ln_emb(self.tok_emb(ids) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, ids, attention_mask=None):
        return self.lm_head(self.encode(ids, attention_mask))
