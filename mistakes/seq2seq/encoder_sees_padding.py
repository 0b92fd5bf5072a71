"""Your encoder ignores src_mask, so real source tokens attend to the padding; pass mask=src_mask[:, None, None, :] to every encoder block.

zh: 你的编码器忽略了 src_mask，真实的源句词会注意到 padding；请把 mask=src_mask[:, None, None, :] 传给每个编码器块。
catches: encode_reference, transformer_reference, transformer_padding
"""

import torch


class MiniTransformer(MiniTransformer):  # noqa: F821
    def encode(self, src, src_mask=None):
        if src.shape[1] > self.max_len:
            raise ValueError("source too long")
        x = self.src_emb(src) + self.pos_emb(torch.arange(src.shape[1]))
        for block in self.encoder:
            x = block(x)
        return self.enc_ln(x)
