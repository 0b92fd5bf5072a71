"""Pre-training a MiniGPT, a whole file written in a student's own style.

* ``import models`` (not ``from models import MiniGPT``); the returned model is a small
  subclass of ``models.MiniGPT`` that adds a ``loss(x, y)`` convenience method;
* ``cross_entropy`` through ``torch.logsumexp`` in a private helper; ``get_batch`` through
  ``Tensor.unfold``; ``clip_grad_norm`` with ``torch.linalg.vector_norm`` of the per-tensor
  norms; ``AdamW.step`` delegates to a module-level functional update with ``Tensor.lerp_``
  and its own state keys; ``perplexity`` under ``torch.inference_mode``;
* a dataclass holds the training recipe, ``functools.cache`` memoises the schedule, the
  module logs at import, and a ``__main__`` self-test compares everything with torch's own
  versions (``F.cross_entropy``, ``torch.optim.AdamW``, ``clip_grad_norm_``) - which are
  used only there, never in the functions that must do without them.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

import models
import torch
from torch import Tensor

__all__ = ["get_batch", "cross_entropy", "cosine_lr", "clip_grad_norm", "AdamW", "perplexity", "pretrain_minigpt"]

log = logging.getLogger(__name__)
log.info("pretrain module loaded")


@dataclass(frozen=True)
class Recipe:
    batch_size: int = 16
    context: int = 32
    warmup: int = 30
    min_lr_ratio: float = 0.1
    clip: float = 1.0
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.8, 0.99)


RECIPE = Recipe()


# --- data ------------------------------------------------------------------------------------------


def get_batch(data: Tensor, batch_size: int, context_length: int,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    n, t = int(data.shape[0]), int(context_length)
    if t < 1:
        raise ValueError(f"context_length must be at least 1, got {t}")
    if n < t + 1:
        raise ValueError(f"a window needs {t + 1} tokens but data holds only {n}")
    windows = data.unfold(0, t + 1, 1)                       # (n - t, t + 1), a view
    starts = torch.randint(0, n - t, (batch_size,), generator=generator)
    block = windows[starts]                                  # advanced indexing copies
    return block[:, :t].clone(), block[:, 1:].clone()


# --- loss ------------------------------------------------------------------------------------------


def _token_nll(logits: Tensor, targets: Tensor) -> Tensor:
    flat = logits.flatten(0, -2) if logits.ndim > 1 else logits[None]
    picked = torch.take_along_dim(flat, targets.reshape(-1, 1), dim=-1).squeeze(-1)
    return torch.logsumexp(flat, dim=-1) - picked


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    if tuple(logits.shape[:-1]) != tuple(targets.shape):
        raise ValueError(f"targets {tuple(targets.shape)} must match logits[..., V] {tuple(logits.shape)}")
    if targets.numel() == 0:
        return logits.sum() * 0.0
    return _token_nll(logits, targets).mean()


# --- schedule and clipping -------------------------------------------------------------------------


@functools.cache
def _cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine_lr(step: int, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    if total_steps < warmup_steps:
        raise ValueError(f"total_steps={total_steps} is smaller than warmup_steps={warmup_steps}")
    match step:
        case s if s < warmup_steps:
            return float(max_lr) * s / warmup_steps
        case s if s >= total_steps:
            return float(min_lr)
        case s:
            return min_lr + (max_lr - min_lr) * _cosine((s - warmup_steps) / (total_steps - warmup_steps))


def clip_grad_norm(parameters: Iterable[Tensor] | Tensor, max_norm: float, eps: float = 1e-6) -> float:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in list(parameters) if p.grad is not None]
    if len(grads) == 0:
        return 0.0
    per_tensor = torch.stack([torch.linalg.vector_norm(g.detach().to(torch.float64)) for g in grads])
    total = float(torch.linalg.vector_norm(per_tensor))
    if total > max_norm:
        factor = max_norm / (total + eps)
        for g in grads:
            g.mul_(factor)
    return total


# --- optimizer -------------------------------------------------------------------------------------


def _adamw_update(p: Tensor, g: Tensor, state: dict, *, lr: float, beta1: float, beta2: float,
                  eps: float, weight_decay: float) -> None:
    state["t"] = t = state.get("t", 0) + 1
    m = state.setdefault("m", torch.zeros_like(p, memory_format=torch.preserve_format))
    v = state.setdefault("v", torch.zeros_like(p, memory_format=torch.preserve_format))
    p.mul_(1.0 - lr * weight_decay)
    m.lerp_(g, 1.0 - beta1)
    v.mul_(beta2).add_(g * g, alpha=1.0 - beta2)
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


class AdamW(torch.optim.Optimizer):
    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            if value < 0:
                raise ValueError(f"{name} must be non-negative, got {value}")
        beta1, beta2 = betas
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay})

    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    _adamw_update(p, p.grad, self.state[p], lr=group["lr"], beta1=beta1, beta2=beta2,
                                  eps=group["eps"], weight_decay=group["weight_decay"])
        return loss


# --- evaluation ------------------------------------------------------------------------------------


@torch.inference_mode()
def perplexity(model: models.MiniGPT, data: Tensor, context_length: int, batch_size: int = 8) -> float:
    t = int(context_length)
    if t < 1 or data.shape[0] < t + 1:
        raise ValueError(f"perplexity needs at least context_length + 1 = {t + 1} tokens, got {data.shape[0]}")
    count = (data.shape[0] - 1) // t
    windows = torch.stack([data[i * t: i * t + t + 1] for i in range(count)])
    model.eval()
    nll_sum, n_tokens = 0.0, 0
    for chunk in windows.split(batch_size):
        nll_sum += float(cross_entropy(model(chunk[:, :-1]), chunk[:, 1:])) * chunk[:, 1:].numel()
        n_tokens += chunk[:, 1:].numel()
    return math.exp(nll_sum / n_tokens)


# --- the training run ------------------------------------------------------------------------------


class PretrainedGPT(models.MiniGPT):
    """A MiniGPT that also knows its own next-token loss."""

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return cross_entropy(self(x), y)


def pretrain_minigpt(train: Tensor, vocab_size: int, max_len: int = 64, d_model: int = 64, n_heads: int = 4,
                     n_layers: int = 2, steps: int = 100, lr: float = 1e-2, seed: int = 0,
                     recipe: Recipe = RECIPE) -> models.MiniGPT:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = PretrainedGPT(vocab_size, max_len, d_model, n_heads, n_layers)
        with torch.no_grad():
            for emb in (model.tok_emb, model.pos_emb):
                emb.weight.normal_(0.0, 1.0 / math.sqrt(d_model))
        opt = AdamW(model.parameters(), lr=lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
        warmup, ctx_len = min(recipe.warmup, steps), min(max_len, recipe.context)
        model.train()
        for step in range(steps):
            rate = cosine_lr(step, lr, lr * recipe.min_lr_ratio, warmup, steps)
            for group in opt.param_groups:
                group["lr"] = rate
            x, y = get_batch(train, recipe.batch_size, ctx_len, gen)
            opt.zero_grad(set_to_none=True)
            loss = model.loss(x, y)
            loss.backward()
            clip_grad_norm(model.parameters(), recipe.clip)
            opt.step()
            if step % 25 == 0:
                log.debug("step %d loss %.3f lr %.2e", step, loss.item(), rate)
    return model.eval()


def _selftest() -> None:
    import torch.nn.functional as F

    torch.manual_seed(0)
    logits, targets = torch.randn(3, 4, 7), torch.randint(0, 7, (3, 4))
    assert torch.allclose(cross_entropy(logits, targets), F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1)))
    a = torch.nn.Parameter(torch.randn(5, 3))
    b = torch.nn.Parameter(a.detach().clone())
    mine, theirs = AdamW([a], lr=0.1), torch.optim.AdamW([b], lr=0.1)
    for _ in range(3):
        for p, opt in ((a, mine), (b, theirs)):
            opt.zero_grad()
            (p**3).sum().backward()
            opt.step()
    assert torch.allclose(a, b, atol=1e-6)
    a.grad = torch.full_like(a, 10.0)
    b.grad = a.grad.clone()
    assert math.isclose(clip_grad_norm([a], 1.0), float(torch.nn.utils.clip_grad_norm_([b], 1.0)), rel_tol=1e-6)
    print("pretrain self-test passed")  # noqa: T201


if __name__ == "__main__":
    _selftest()
