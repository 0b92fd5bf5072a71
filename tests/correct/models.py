"""models written another way: MiniBERT builds its key mask with masking's
key_padding_to_attention_mask and runs the blocks with functools.reduce; positions are an
expanded [B, L] arange; the length check lives in one shared helper; MiniGPT.generate fills a
preallocated output tensor column by column, cropping with an explicit start index;
to_hf_gpt2_state_dict renames model.state_dict() with regex rules from a helper module and
fuses q/k/v by concatenating the transposed weights along the output axis."""

import functools

import torch
from blocks import DecoderBlock, EncoderBlock
from heads import LMHead, sample_next_token
from helpers_models import gpt2_state_dict
from masking import key_padding_to_attention_mask
from torch import nn


def _embed(model, ids):
    B, L = ids.shape
    if L > model.max_len:
        raise ValueError(f"got {L} tokens but the model has only {model.max_len} positions")
    positions = torch.arange(L, device=ids.device).expand(B, L)
    return model.tok_emb(ids) + model.pos_emb(positions)


class MiniBERT(nn.Module):
    def __init__(self, vocab_size, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.lm_head = LMHead(d_model, vocab_size, self.tok_emb.weight)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.ln_emb = nn.LayerNorm(d_model)
        self.blocks = nn.ModuleList()
        for _ in range(n_layers):
            self.blocks.append(EncoderBlock(d_model, n_heads, d_ff=d_ff, activation="gelu"))

    def encode(self, ids, attention_mask=None):
        x = self.ln_emb(_embed(self, ids))
        mask = None if attention_mask is None else key_padding_to_attention_mask(attention_mask)
        return functools.reduce(lambda h, block: block(h, mask=mask), self.blocks, x)

    def forward(self, ids, attention_mask=None):
        hidden = self.encode(ids, attention_mask=attention_mask)
        return self.lm_head(hidden)


class MiniGPT(nn.Module):
    def __init__(self, vocab_size, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList([DecoderBlock(d_model, n_heads, d_ff, "gelu") for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = LMHead(d_model, vocab_size, tied_weight=self.tok_emb.weight)

    def forward(self, ids):
        x = _embed(self, ids)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def generate(self, ids, max_new_tokens, temperature=0.0, top_k=None, generator=None):
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        B, L0 = ids.shape
        out = ids.new_empty(B, L0 + max_new_tokens)
        out[:, :L0] = ids
        with torch.no_grad():
            for t in range(L0, L0 + max_new_tokens):
                start = max(0, t - self.max_len)
                last = self.forward(out[:, start:t])[:, -1]
                out[:, t] = sample_next_token(last, temperature, top_k, generator)
        return out


def to_hf_gpt2_state_dict(model):
    return gpt2_state_dict(model.state_dict())
