"""Your MiniBERT does not apply ln_emb to the sum of token and position embeddings.

zh: 你的 MiniBERT 没有对"词向量 + 位置向量"做 ln_emb（LayerNorm）。
catches: minibert_encode_reference, minibert_reference
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
        x = self.tok_emb(ids) + self.pos_emb(pos)
        mask = None if attention_mask is None else attention_mask[:, None, None, :]
        for block in self.blocks:
            x = block(x, mask=mask)
        return x

    def forward(self, ids, attention_mask=None):
        return self.lm_head(self.encode(ids, attention_mask))
