"""Your pretrain_minigpt builds MiniGPT with fixed sizes (d_model=64, 4 heads, 2 layers) instead of the sizes it was given; use MiniGPT(vocab_size, max_len, d_model, n_heads, n_layers).

zh: 你的 pretrain_minigpt 用固定的大小（d_model=64、4 个头、2 层）构建 MiniGPT，而不是传入的大小；应当用 MiniGPT(vocab_size, max_len, d_model, n_heads, n_layers)。
catches: pretrain_structure
"""

import torch


def pretrain_minigpt(train, vocab_size, max_len=64, d_model=64, n_heads=4, n_layers=2, steps=300, lr=1e-2,
                     seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = MiniGPT(vocab_size, max_len, 64, 4, 2)
        opt = AdamW(model.parameters(), lr=lr, weight_decay=0.1)
        warmup = min(30, steps)
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, lr, lr / 10, warmup, steps)
            x, y = get_batch(train, 16, min(max_len, 32), generator=gen)
            loss = cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm(model.parameters(), 1.0)
            opt.step()
    return model.eval()
