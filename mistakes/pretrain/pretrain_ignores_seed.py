"""Your pretrain_minigpt ignores its seed (the initialisation and the batches come from whatever the global random state is), so the same seed does not give the same model.

zh: 你的 pretrain_minigpt 忽略了 seed（初始化和取批都依赖当时的全局随机状态），所以相同的 seed 得不到相同的模型。
catches: pretrain_seed
"""

import torch


def pretrain_minigpt(train, vocab_size, max_len=64, d_model=64, n_heads=4, n_layers=2, steps=300, lr=1e-2,
                     seed=0):
    model = MiniGPT(vocab_size, max_len, d_model, n_heads, n_layers)
    opt = AdamW(model.parameters(), lr=lr, weight_decay=0.1)
    warmup = min(30, steps)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, lr, lr / 10, warmup, steps)
        x, y = get_batch(train, 16, min(max_len, 32))
        loss = cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()
    return model.eval()
