"""You never apply enc_ln and dec_ln: the encoder and decoder stacks end with a final LayerNorm each (nn.Transformer's encoder.norm and decoder.norm).

zh: 你没有使用 enc_ln 和 dec_ln：编码器和解码器的最后各有一个 LayerNorm（即 nn.Transformer 的 encoder.norm 与 decoder.norm）。
catches: encode_reference, decode_reference, transformer_reference
"""

import torch


class MiniTransformer(MiniTransformer):  # noqa: F821
    def encode(self, src, src_mask=None):
        if src.shape[1] > self.max_len:
            raise ValueError("source too long")
        x = self.src_emb(src) + self.pos_emb(torch.arange(src.shape[1]))
        mask = None if src_mask is None else src_mask[:, None, None, :]
        for block in self.encoder:
            x = block(x, mask=mask)
        return x

    def decode(self, tgt, memory, src_mask=None):
        if tgt.shape[1] > self.max_len:
            raise ValueError("target too long")
        x = self.tgt_emb(tgt) + self.pos_emb(torch.arange(tgt.shape[1]))
        mask = None if src_mask is None else src_mask[:, None, None, :]
        for block in self.decoder:
            x = block(x, memory, memory_mask=mask)
        return x
