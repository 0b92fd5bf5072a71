"""Your decoder's cross-attention ignores src_mask, so it attends to the padded source positions; pass memory_mask=src_mask[:, None, None, :] to every decoder block.

zh: 你的解码器在交叉注意力中忽略了 src_mask，注意到了源句的 padding 位置；请把 memory_mask=src_mask[:, None, None, :] 传给每个解码器块。
catches: decode_reference, transformer_reference, transformer_padding
"""

import torch


class MiniTransformer(MiniTransformer):  # noqa: F821
    def decode(self, tgt, memory, src_mask=None):
        if tgt.shape[1] > self.max_len:
            raise ValueError("target too long")
        x = self.tgt_emb(tgt) + self.pos_emb(torch.arange(tgt.shape[1]))
        for block in self.decoder:
            x = block(x, memory)
        return self.dec_ln(x)
