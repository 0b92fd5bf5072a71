"""You multiply the word embeddings by sqrt(d_model) before adding the positions, as the original paper does; this course's MiniTransformer adds them unscaled.

zh: 你像原论文那样在加位置嵌入之前把词向量乘以 sqrt(d_model)；本课程的 MiniTransformer 不做这个缩放。
catches: encode_reference, decode_reference, transformer_reference
"""

import math

import torch


class MiniTransformer(MiniTransformer):  # noqa: F821
    def encode(self, src, src_mask=None):
        if src.shape[1] > self.max_len:
            raise ValueError("source too long")
        scale = math.sqrt(self.src_emb.embedding_dim)
        x = self.src_emb(src) * scale + self.pos_emb(torch.arange(src.shape[1]))
        mask = None if src_mask is None else src_mask[:, None, None, :]
        for block in self.encoder:
            x = block(x, mask=mask)
        return self.enc_ln(x)

    def decode(self, tgt, memory, src_mask=None):
        if tgt.shape[1] > self.max_len:
            raise ValueError("target too long")
        scale = math.sqrt(self.tgt_emb.embedding_dim)
        x = self.tgt_emb(tgt) * scale + self.pos_emb(torch.arange(tgt.shape[1]))
        mask = None if src_mask is None else src_mask[:, None, None, :]
        for block in self.decoder:
            x = block(x, memory, memory_mask=mask)
        return self.dec_ln(x)
