"""pretrain written a second other way: get_batch draws its offsets as floor(u * (N - T)) from
float64 torch.rand and stacks Python slices; cross_entropy stays in the logits' dtype, keeps
the row max inside autograd (not detached), picks the target logit with torch.where over an
arange == target mask, and answers "no targets" with a fresh constant 0 (logits.new_zeros(()),
no autograd graph: there is nothing to differentiate); cosine_lr is written as max_lr minus a
rising (1 - cos) term and checks the decay branch first; clip_grad_norm concatenates every
gradient into one vector, takes its norm in the gradients' own dtype and scales with a 0-d
tensor; AdamW keeps m and v in float64 whatever the parameter's dtype, counts steps in a
0-d tensor (like torch), and writes p - lr·wd·p - lr·m_hat/(sqrt(v_hat) + eps) back with
copy_ (decay and step in one expression); perplexity runs under torch.inference_mode and
sums log-likelihoods with its own float64 logsumexp; pretrain_minigpt re-initialises EVERY
parameter GPT-2 style from its own torch.Generator (matrices N(0, 0.02²), biases 0, LayerNorm
weights 1) after building the model inside fork_rng, and trains 240 steps of 32 windows of
min(max_len, 16) tokens at lr 3e-3 (20 warmup steps, down to lr/10), betas (0.9, 0.95),
weight decay 0.1, clipping at 1.0, the gradients zeroed with zero_grad(set_to_none=False)."""

import math as _math

import torch as _torch
from models import MiniGPT as _MiniGPT


def get_batch(data, batch_size, context_length, generator=None):
    T = context_length
    N = len(data)
    if T < 1:
        raise ValueError(f"context_length has to be >= 1, got {T}")
    if N < T + 1:
        raise ValueError(f"data of length {N} is too short for one window of {T} + 1 tokens")
    u = _torch.rand(batch_size, generator=generator, dtype=_torch.float64)
    starts = (u * (N - T)).floor().long().clamp_(max=N - T - 1)
    rows = [data[int(s): int(s) + T + 1] for s in starts]
    if not rows:
        empty = data.new_empty((0, T))
        return empty, empty.clone()
    block = _torch.stack(rows)
    return block[:, :T].clone(), block[:, 1:].clone()


def cross_entropy(logits, targets):
    if tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(f"targets {tuple(targets.shape)} do not fit logits {tuple(logits.shape)}")
    V = logits.shape[-1]
    if targets.numel() == 0:
        return logits.new_zeros(())
    z = logits.reshape(-1, V)
    t = targets.reshape(-1)
    top = z.max(dim=-1, keepdim=True).values
    lse = (z - top).exp().sum(dim=-1).log() + top.squeeze(-1)
    hit = _torch.arange(V, device=z.device)[None, :] == t[:, None]
    picked = _torch.where(hit, z, _torch.zeros_like(z)).sum(dim=-1)
    return (lse - picked).mean()


def cosine_lr(step, max_lr, min_lr, warmup_steps, total_steps):
    if warmup_steps > total_steps:
        raise ValueError(f"total_steps={total_steps} is smaller than warmup_steps={warmup_steps}")
    if warmup_steps <= step < total_steps:
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return float(max_lr - (max_lr - min_lr) * (1.0 - _math.cos(_math.pi * progress)) / 2.0)
    if step < warmup_steps:
        return float(step / warmup_steps * max_lr)
    return float(min_lr)


def clip_grad_norm(parameters, max_norm, eps=1e-6):
    grads = [p.grad for p in list(parameters) if p.grad is not None]
    if len(grads) == 0:
        return 0.0
    flat = _torch.cat([g.detach().reshape(-1) for g in grads])
    norm = _torch.linalg.vector_norm(flat)
    total = norm.item()
    if total > max_norm:
        coef = _torch.tensor(max_norm, dtype=_torch.float64) / (norm.double() + eps)
        for g in grads:
            g.mul_(coef)
    return float(total)


class AdamW(_torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            if value < 0:
                raise ValueError(f"AdamW: {name} must not be negative, got {value}")
        beta1, beta2 = betas
        for value in (beta1, beta2):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"AdamW: each beta must lie in [0, 1), got {betas}")
        defaults = {"lr": lr, "betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with _torch.enable_grad():
                loss = closure()
        with _torch.no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = _torch.tensor(0.0, dtype=_torch.float64)
                        state["m"] = _torch.zeros(p.shape, dtype=_torch.float64, device=p.device)
                        state["v"] = _torch.zeros(p.shape, dtype=_torch.float64, device=p.device)
                    state["step"] += 1
                    t = int(state["step"].item())
                    g = p.grad.detach().double()
                    m, v = state["m"], state["v"]
                    m.mul_(beta1).add_((1.0 - beta1) * g)
                    v.mul_(beta2).add_((1.0 - beta2) * g * g)
                    m_hat = m / (1.0 - beta1 ** t)
                    v_hat = v / (1.0 - beta2 ** t)
                    p64 = p.detach().double()
                    lr, wd = group["lr"], group["weight_decay"]
                    new = p64 - lr * wd * p64 - lr * m_hat / (v_hat.sqrt() + group["eps"])
                    p.copy_(new.to(p.dtype))
        return loss


def _token_nll_sum(logits, targets):
    z = logits.reshape(-1, logits.shape[-1]).double()
    t = targets.reshape(-1)
    lse = _torch.logsumexp(z, dim=-1)
    return float((lse - z[_torch.arange(len(t)), t]).sum())


def perplexity(model, data, context_length, batch_size=8):
    T = int(context_length)
    if T < 1:
        raise ValueError("context_length must be >= 1")
    count = (len(data) - 1) // T
    if count < 1:
        raise ValueError(f"{len(data)} tokens hold no window of context_length + 1 = {T + 1} tokens")
    model.eval()
    nll, tokens = 0.0, 0
    with _torch.inference_mode():
        starts = list(range(0, count * T, T))
        for k in range(0, count, max(1, int(batch_size))):
            block = _torch.stack([data[s: s + T + 1] for s in starts[k: k + batch_size]])
            nll += _token_nll_sum(model(block[:, :-1]), block[:, 1:])
            tokens += block.shape[0] * T
    return float(_math.exp(nll / tokens))


def _gpt2_init(model, gen):
    with _torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(_torch.randn(p.shape, generator=gen, dtype=_torch.float64).mul_(0.02).to(p.dtype))
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def pretrain_minigpt(train, vocab_size, max_len=64, d_model=64, n_heads=4, n_layers=2, steps=240, lr=3e-3,
                     seed=0):
    gen = _torch.Generator().manual_seed(seed)
    with _torch.random.fork_rng(devices=[]):
        model = _MiniGPT(vocab_size, max_len, d_model, n_heads, n_layers)
    _gpt2_init(model, gen)
    T = min(max_len, 16)
    warmup = min(20, steps)
    opt = AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    model.train()
    for step in range(steps):
        rate = cosine_lr(step, lr, lr / 10, warmup, steps)
        for group in opt.param_groups:
            group["lr"] = rate
        x, y = get_batch(train, 32, T, generator=gen)
        loss = cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()
    model.eval()
    return model
