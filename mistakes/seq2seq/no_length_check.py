"""You never check the lengths: a source or target longer than max_len must raise ValueError (nn.Embedding would fail with an IndexError deep inside).

zh: 你没有检查长度：源句或目标句长于 max_len 时必须抛出 ValueError（否则 nn.Embedding 会在内部抛出 IndexError）。
catches: max_len_checks
"""

import torch


class MiniTransformer(MiniTransformer):  # noqa: F821
    def encode(self, src, src_mask=None):
        x = self.src_emb(src) + self.pos_emb(torch.arange(src.shape[1]))
        mask = None if src_mask is None else src_mask[:, None, None, :]
        for block in self.encoder:
            x = block(x, mask=mask)
        return self.enc_ln(x)

    def decode(self, tgt, memory, src_mask=None):
        x = self.tgt_emb(tgt) + self.pos_emb(torch.arange(tgt.shape[1]))
        mask = None if src_mask is None else src_mask[:, None, None, :]
        for block in self.decoder:
            x = block(x, memory, memory_mask=mask)
        return self.dec_ln(x)
