"""Your train_word_vectors does not raise ValueError for corpus ids outside [0, vocab_size).

zh: 当语料中的 id 超出 [0, vocab_size) 时，你的 train_word_vectors 没有抛出 ValueError。
catches: train_word_vectors_behaviour
"""
import torch


def train_word_vectors(corpus: torch.Tensor, vocab_size: int, dim: int = 32, window: int = 2,
                       epochs: int = 3, lr: float = 0.05, seed: int = 0) -> torch.Tensor:
    num_negatives, batch_size = 5, 512
    g = torch.Generator().manual_seed(seed)
    pairs = skipgram_pairs(corpus, window)  # noqa: F821
    w_in = (0.1 * torch.randn(vocab_size, dim, generator=g)).requires_grad_()
    w_out = (0.1 * torch.randn(vocab_size, dim, generator=g)).requires_grad_()
    noise = torch.bincount(corpus, minlength=vocab_size).double() ** 0.75
    optimizer = torch.optim.Adam([w_in, w_out], lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(pairs), generator=g)
        for start in range(0, len(pairs), batch_size):
            batch = pairs[order[start:start + batch_size]]
            neg = torch.multinomial(noise, len(batch) * num_negatives, replacement=True,
                                    generator=g).view(len(batch), num_negatives)
            loss = sgns_loss(w_in[batch[:, 0]], w_out[batch[:, 1]], w_out[neg])  # noqa: F821
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return w_in.detach()
