"""Your train_seq2seq ignores seed: the initial weights and the batch order come from whatever the global random state is.

zh: 你的 train_seq2seq 忽略了 seed：初始权重和批次顺序取决于全局随机状态。
catches: train_seq2seq_seed
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
        dec_in[i, :len(y) + 1] = torch.tensor([bos_id, *y])
        dec_out[i, :len(y) + 1] = torch.tensor([*y, eos_id])
    src_mask = src != pad_id
    model = MiniTransformer(src_vocab, tgt_vocab, max(ls, lt), d_model, n_heads, n_layers)  # noqa: F821
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, fused=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * -(-n // 64), pct_start=0.1)
    for _ in range(epochs):
        for idx in torch.randperm(n).split(64):
            logits = model(src[idx], dec_in[idx], src_mask[idx])
            loss = F.cross_entropy(logits.flatten(0, 1), dec_out[idx].flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()
