"""Your decoder is trained to predict the token it is reading (input [bos] + y, target [bos] + y) instead of the next one (target y + [eos]); it learns to copy its input and never translates.

zh: 你的解码器被训练成预测它正在读入的词（输入 [bos] + y，目标 [bos] + y），而不是下一个词（目标 y + [eos]）；它只学会了复制输入。
catches: train_seq2seq_quality
"""

import torch
import torch.nn.functional as F


def train_seq2seq(pairs, src_vocab, tgt_vocab, bos_id, eos_id, pad_id=0, d_model=64, n_heads=4,
                  n_layers=2, epochs=3, lr=6e-3, seed=0):
    n = len(pairs)
    ls = max(len(x) for x, _ in pairs)
    lt = max(len(y) for _, y in pairs) + 1
    src = torch.full((n, ls), pad_id, dtype=torch.long)
    dec = torch.full((n, lt), pad_id, dtype=torch.long)
    for i, (x, y) in enumerate(pairs):
        src[i, :len(x)] = torch.tensor(x)
        dec[i, :len(y) + 1] = torch.tensor([bos_id, *y])
    src_mask = src != pad_id
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MiniTransformer(src_vocab, tgt_vocab, max(ls, lt), d_model, n_heads, n_layers)  # noqa: F821
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for idx in torch.randperm(n, generator=gen).split(64):
                logits = model(src[idx], dec[idx], src_mask[idx])
                loss = F.cross_entropy(logits.flatten(0, 1), dec[idx].flatten(), ignore_index=pad_id)
                opt.zero_grad()
                loss.backward()
                opt.step()
    return model.eval()
