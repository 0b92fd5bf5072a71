"""Your pretrain_minigpt trains on windows of 32 tokens whatever max_len is, so a model of max_len=16 is given sequences longer than it can read; a training window must fit the model: T = min(max_len, 32).

zh: 你的 pretrain_minigpt 不管 max_len 是多少都用 32 个词的窗口训练，所以 max_len=16 的模型收到了超过它能读的长度；训练窗口必须放得进模型：T = min(max_len, 32)。
catches: pretrain_quality
"""

import torch


def pretrain_minigpt(train, vocab_size, max_len=64, d_model=64, n_heads=4, n_layers=2, steps=100, lr=1e-2,
                     seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = MiniGPT(vocab_size, max_len, d_model, n_heads, n_layers)
        with torch.no_grad():
            model.tok_emb.weight.normal_(0.0, d_model ** -0.5)
            model.pos_emb.weight.normal_(0.0, d_model ** -0.5)
        opt = AdamW(model.parameters(), lr=lr, betas=(0.8, 0.99), weight_decay=0.1)
        warmup = min(30, steps)
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, lr, lr / 10, warmup, steps)
            x, y = get_batch(train, 16, 32, generator=gen)
            loss = cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm(model.parameters(), 1.0)
            opt.step()
    return model.eval()
