"""Your MiniGPT is built from EncoderBlocks, so its attention is not causal: position t sees the tokens it must predict.

zh: 你的 MiniGPT 用的是 EncoderBlock，注意力不是因果的：第 t 个位置能看到它要预测的后面的词。
catches: minigpt_structure, minigpt_reference, minigpt_causal, generate_reference
"""

import torch
from blocks import EncoderBlock
from heads import LMHead, sample_next_token
from torch import nn


class MiniGPT(nn.Module):
    def __init__(self, vocab_size, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_heads, d_ff, activation="gelu") for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = LMHead(d_model, vocab_size, tied_weight=self.tok_emb.weight)

    def forward(self, ids):
        L = ids.shape[1]
        if L > self.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len {self.max_len}")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(L, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    @torch.no_grad()
    def generate(self, ids, max_new_tokens, temperature=0.0, top_k=None, generator=None):
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        for _ in range(max_new_tokens):
            logits = self(ids[:, -self.max_len:])[:, -1, :]
            next_id = sample_next_token(logits, temperature=temperature, top_k=top_k, generator=generator)
            ids = torch.cat([ids, next_id[:, None]], dim=1)
        return ids
