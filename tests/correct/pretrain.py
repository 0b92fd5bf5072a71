"""pretrain written another way: get_batch indexes a Tensor.unfold view of every window;
cross_entropy works in float64 with torch.logsumexp and picks the target logit with a
one-hot einsum, then casts back; cosine_lr uses cos²(π p / 2) (= (1 + cos π p) / 2);
clip_grad_norm takes the norm of the per-tensor norms in float64; AdamW folds the bias
corrections into the step size and eps (lr·sqrt(bc2)/bc1 · m / (sqrt(v) + eps·sqrt(bc2)),
the same number as torch's form), keeps its moments with lerp_ and names its state t / m / v;
perplexity cuts its windows with unfold and sums token losses in float64;
pretrain_minigpt: both embeddings redrawn from N(0, 0.1²) (a fixed std, not 1/sqrt(D)),
batches of 24 windows of 16 tokens, 150 steps at lr 5e-3 with 15 warmup steps down to lr/20,
betas (0.9, 0.95), weight decay 0.05 on matrices only (a second param group without decay),
gradients cleared by setting them to None, the caller's random state saved and restored by
hand, get_batch's generator seeded with a value derived from the seed."""

import math as _math

import torch as _torch
import torch.nn.functional as _F
from models import MiniGPT as _MiniGPT


def get_batch(data, batch_size, context_length, generator=None):
    n, t = int(data.shape[0]), int(context_length)
    if t < 1:
        raise ValueError(f"context_length must be at least 1, got {t}")
    if n < t + 1:
        raise ValueError(f"a stream of {n} tokens holds no window of {t + 1} tokens")
    windows = data.unfold(0, t + 1, 1)                     # (n - t, t + 1), a view
    starts = _torch.randint(0, n - t, (batch_size,), generator=generator)
    chosen = windows[starts].clone()
    return chosen[:, :t], chosen[:, 1:]


def cross_entropy(logits, targets):
    if tuple(logits.shape[:-1]) != tuple(targets.shape):
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} disagree")
    vocab = logits.shape[-1]
    z = logits.reshape(-1, vocab).to(_torch.float64)
    if z.shape[0] == 0:
        return (logits.sum() * 0.0).to(logits.dtype)
    onehot = _F.one_hot(targets.reshape(-1), vocab).to(_torch.float64)
    picked = _torch.einsum("nv,nv->n", z, onehot)
    nll = _torch.logsumexp(z, dim=-1) - picked
    return nll.mean().to(logits.dtype)


def cosine_lr(step, max_lr, min_lr, warmup_steps, total_steps):
    if warmup_steps > total_steps:
        raise ValueError(f"warmup_steps={warmup_steps} exceeds total_steps={total_steps}")
    if step >= total_steps:
        return float(min_lr)
    if step < warmup_steps:
        return float(max_lr) * (step / warmup_steps)
    frac = (step - warmup_steps) / (total_steps - warmup_steps)
    return float(min_lr + (max_lr - min_lr) * _math.cos(0.5 * _math.pi * frac) ** 2)


def clip_grad_norm(parameters, max_norm, eps=1e-6):
    grads = []
    for p in parameters:
        if p.grad is not None:
            grads.append(p.grad)
    if len(grads) == 0:
        return 0.0
    per_tensor = _torch.stack([_torch.linalg.vector_norm(g.detach().to(_torch.float64)) for g in grads])
    total = float(_torch.linalg.vector_norm(per_tensor))
    if total > max_norm:
        coef = max_norm / (total + eps)
        for g in grads:
            g.mul_(coef)
    return total


class AdamW(_torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        b1, b2 = betas
        if lr < 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if eps < 0.0:
            raise ValueError(f"invalid eps {eps}")
        if weight_decay < 0.0:
            raise ValueError(f"invalid weight_decay {weight_decay}")
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"invalid betas {betas}")
        super().__init__(params, {"lr": lr, "betas": (b1, b2), "eps": eps, "weight_decay": weight_decay})

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with _torch.enable_grad():
                loss = closure()
        with _torch.no_grad():
            for group in self.param_groups:
                b1, b2 = group["betas"]
                lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    st = self.state[p]
                    if "t" not in st:
                        st["t"] = 0
                        st["m"] = _torch.zeros_like(p, memory_format=_torch.preserve_format)
                        st["v"] = _torch.zeros_like(p, memory_format=_torch.preserve_format)
                    st["t"] += 1
                    t, m, v = st["t"], st["m"], st["v"]
                    if wd != 0.0:
                        p.mul_(1.0 - lr * wd)
                    m.lerp_(g, 1.0 - b1)
                    v.mul_(b2).add_(g * g * (1.0 - b2))
                    root_bc2 = _math.sqrt(1.0 - b2 ** t)
                    step_size = lr * root_bc2 / (1.0 - b1 ** t)
                    p.sub_(step_size * m / (v.sqrt() + eps * root_bc2))
        return loss


def perplexity(model, data, context_length, batch_size=8):
    t = int(context_length)
    if t < 1 or data.shape[0] < t + 1:
        raise ValueError(f"need at least context_length + 1 = {t + 1} tokens, got {data.shape[0]}")
    windows = data.unfold(0, t + 1, t)                     # window i = data[i*t : i*t + t + 1]
    model.eval()
    nll_sum = 0.0
    tokens = 0
    with _torch.no_grad():
        for chunk in windows.split(batch_size):
            loss = cross_entropy(model(chunk[:, :-1]), chunk[:, 1:])
            nll_sum += float(loss.to(_torch.float64)) * chunk[:, 1:].numel()
            tokens += chunk[:, 1:].numel()
    return _math.exp(nll_sum / tokens)


_BATCH, _WARMUP, _CLIP, _EMB_STD = 24, 15, 1.0, 0.1


def pretrain_minigpt(train, vocab_size, max_len=64, d_model=64, n_heads=4, n_layers=2, steps=150, lr=5e-3,
                     seed=0):
    batch, warmup = _BATCH, min(_WARMUP, steps)
    context = min(16, max_len)
    saved = _torch.random.get_rng_state()
    try:
        _torch.manual_seed(seed)
        model = _MiniGPT(vocab_size, max_len, d_model, n_heads, n_layers)
        decay, no_decay = [], []
        with _torch.no_grad():
            model.tok_emb.weight.normal_(0.0, _EMB_STD)
            model.pos_emb.weight.normal_(0.0, _EMB_STD)
        for p in model.parameters():
            (decay if p.dim() >= 2 else no_decay).append(p)
        opt = AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                    lr=lr, betas=(0.9, 0.95))
        gen = _torch.Generator().manual_seed(1_000_003 * (seed + 1))
        model.train()
        for step in range(steps):
            rate = cosine_lr(step, lr, lr / 20, warmup, steps)
            for group in opt.param_groups:
                group["lr"] = rate
            x, y = get_batch(train, batch, context, generator=gen)
            logits = model(x)
            loss = cross_entropy(logits, y)
            for p in model.parameters():
                p.grad = None
            loss.backward()
            clip_grad_norm(model.parameters(), _CLIP)
            opt.step()
    finally:
        _torch.random.set_rng_state(saved)
    return model.eval()
