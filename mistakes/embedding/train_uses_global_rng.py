"""Your train_word_vectors draws from torch's global random state (no torch.Generator seeded with `seed`): the same call gives different vectors.

zh: 你的 train_word_vectors 使用了 torch 的全局随机状态（没有用以 `seed` 为种子的 torch.Generator）：同样的调用得到不同的词向量。
catches: train_word_vectors_behaviour
"""

import torch


def train_word_vectors(corpus, vocab_size, dim=32, window=2, epochs=3, lr=0.05, seed=0):
    if corpus.numel() and (corpus.min() < 0 or corpus.max() >= vocab_size):
        raise ValueError(f"corpus ids must lie in [0, {vocab_size})")
    pairs = skipgram_pairs(corpus, window)  # noqa: F821 - the reference's function, defined above
    w_in = (0.1 * torch.randn(vocab_size, dim)).requires_grad_()
    w_out = (0.1 * torch.randn(vocab_size, dim)).requires_grad_()
    noise = torch.bincount(corpus, minlength=vocab_size).double() ** 0.75
    optimizer = torch.optim.Adam([w_in, w_out], lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(pairs))
        for start in range(0, len(pairs), 512):
            batch = pairs[order[start:start + 512]]
            neg = torch.multinomial(noise, len(batch) * 5, replacement=True).view(len(batch), 5)
            loss = sgns_loss(w_in[batch[:, 0]], w_out[batch[:, 1]], w_out[neg])  # noqa: F821
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return w_in.detach()
