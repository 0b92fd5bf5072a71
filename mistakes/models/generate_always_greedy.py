"""Your generate always takes the argmax and ignores temperature, top_k and the generator; pass them on to sample_next_token.

zh: 你的 generate 总是取 argmax，忽略了 temperature、top_k 和 generator；应把它们传给 sample_next_token。
catches: generate_context
"""

import torch
from blocks import DecoderBlock
from heads import LMHead
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
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(L, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    @torch.no_grad()
    def generate(self, ids, max_new_tokens, temperature=0.0, top_k=None, generator=None):
        for _ in range(max_new_tokens):
            logits = self(ids[:, -self.max_len:])[:, -1, :]
            ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
        return ids
