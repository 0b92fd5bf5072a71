"""Your MiniBERT is built from DecoderBlocks, so each word only sees the words before it; BERT's encoder is bidirectional (EncoderBlock).

zh: 你的 MiniBERT 用的是 DecoderBlock，每个词只能看到前面的词；BERT 的编码器是双向的（EncoderBlock）。
catches: minibert_structure, minibert_encode_reference, minibert_reference
"""

import torch
from blocks import DecoderBlock
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
            DecoderBlock(d_model, n_heads, d_ff, activation="gelu") for _ in range(n_layers)
        )
        self.lm_head = LMHead(d_model, vocab_size, tied_weight=self.tok_emb.weight)

    def encode(self, ids, attention_mask=None):
        L = ids.shape[1]
        if L > self.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len {self.max_len}")
        pos = torch.arange(L, device=ids.device)
        x = self.ln_emb(self.tok_emb(ids) + self.pos_emb(pos))
        mask = None if attention_mask is None else attention_mask[:, None, None, :]
        for block in self.blocks:
            x = block(x, mask=mask)
        return x

    def forward(self, ids, attention_mask=None):
        return self.lm_head(self.encode(ids, attention_mask))
