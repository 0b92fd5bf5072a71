"""Your MiniGPT numbers positions from 1 instead of 0 (and runs off the position table at L = max_len).

zh: 你的 MiniGPT 的位置编号从 1 开始而不是从 0 开始：第一个词用了 pos_emb[1]（L = max_len 时还会越界）。
catches: minigpt_reference, max_len_checks, generate_reference, generate_context
"""

import torch
from blocks import DecoderBlock
from heads import LMHead, sample_next_token
from torch import nn


class MiniGPT(nn.Module):
    def __init__(self, vocab_size, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(
            DecoderBlock(d_model, n_heads, d_ff, activation="gelu") for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = LMHead(d_model, vocab_size, tied_weight=self.tok_emb.weight)

    def forward(self, ids):
        L = ids.shape[1]
        if L > self.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len {self.max_len}")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(1, L + 1, device=ids.device))
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
