"""Your targets have no eos_id at the end (decoder input [bos] + y[:-1], target y), so the model never learns where a translation stops.

zh: 你的训练目标末尾没有 eos_id（解码器输入 [bos] + y[:-1]，目标 y），模型学不会翻译在哪里结束。
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
    dec_in = torch.full((n, lt), pad_id, dtype=torch.long)
    dec_out = torch.full((n, lt), -100, dtype=torch.long)
    for i, (x, y) in enumerate(pairs):
        src[i, :len(x)] = torch.tensor(x)
        dec_in[i, :len(y)] = torch.tensor([bos_id, *y[:-1]])
        dec_out[i, :len(y)] = torch.tensor(y)
    src_mask = src != pad_id
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MiniTransformer(src_vocab, tgt_vocab, max(ls, lt), d_model, n_heads, n_layers)  # noqa: F821
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            for idx in torch.randperm(n, generator=gen).split(64):
                logits = model(src[idx], dec_in[idx], src_mask[idx])
                loss = F.cross_entropy(logits.flatten(0, 1), dec_out[idx].flatten())
                opt.zero_grad()
                loss.backward()
                opt.step()
    return model.eval()
