"""You give the source and the target a position embedding each (src_pos_emb, tgt_pos_emb); the contract has ONE pos_emb shared by the encoder and the decoder.

zh: 你给源句和目标句各建了一个位置嵌入（src_pos_emb、tgt_pos_emb）；约定中编码器与解码器共用一个 pos_emb。
catches: transformer_structure, encode_reference, decode_reference, transformer_reference
"""

import torch
from torch import nn


class MiniTransformer(MiniTransformer):  # noqa: F821
    def __init__(self, src_vocab, tgt_vocab, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__(src_vocab, tgt_vocab, max_len, d_model, n_heads, n_layers, d_ff)
        del self.pos_emb
        self.src_pos_emb = nn.Embedding(max_len, d_model)
        self.tgt_pos_emb = nn.Embedding(max_len, d_model)

    def encode(self, src, src_mask=None):
        if src.shape[1] > self.max_len:
            raise ValueError("source too long")
        x = self.src_emb(src) + self.src_pos_emb(torch.arange(src.shape[1]))
        mask = None if src_mask is None else src_mask[:, None, None, :]
        for block in self.encoder:
            x = block(x, mask=mask)
        return self.enc_ln(x)

    def decode(self, tgt, memory, src_mask=None):
        if tgt.shape[1] > self.max_len:
            raise ValueError("target too long")
        x = self.tgt_emb(tgt) + self.tgt_pos_emb(torch.arange(tgt.shape[1]))
        mask = None if src_mask is None else src_mask[:, None, None, :]
        for block in self.decoder:
            x = block(x, memory, memory_mask=mask)
        return self.dec_ln(x)
