"""Pre-training a MiniGPT of your own on unlabelled text / 用无标注文本预训练自己的 MiniGPT.

Plain text is its own answer key: every position predicts the next token, so a stream of
token ids ``data`` gives training pairs for free,

    x = data[s : s+T]        (what the model reads)
    y = data[s+1 : s+T+1]    (what it must predict at each position: x shifted by one)

and the loss is the mean cross-entropy -log P(y_t | x_≤t). The rest is the training loop
every language model uses, built here from scratch:

    for each step:  lr = cosine_lr(step, ...)          warmup, then a cosine decay
                    x, y = get_batch(train, B, T)      random windows of the stream
                    loss = cross_entropy(model(x), y)
                    loss.backward()
                    clip_grad_norm(params, 1.0)        no single step may jump too far
                    AdamW step                         Adam + decoupled weight decay

and ``perplexity = exp(mean cross-entropy)`` on held-out text says how well it went: a
model that spreads its bets evenly over V tokens has perplexity V ("as unsure as a uniform
choice among V"); lower is better (an untrained model, confidently wrong, is far worse).

纯文本自己就是答案：每个位置都预测下一个词，所以一段 id 流就能免费切出训练样本
(x, y = x 错开一位)。训练循环：余弦学习率（先预热）→ 随机取一批窗口 → 交叉熵 →
反向传播 → 梯度裁剪 → AdamW 更新。困惑度 = exp(平均交叉熵)，越低越好；在 V 个词上平均猜测
的模型困惑度就是 V（未训练、却很"自信"的模型还要差得多）。

Lecture: "🤗如何训练语言模型？", "🤗预训练" (Next token prediction), "Decoder Only" (GPT).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from models import MiniGPT

BATCH_SIZE = 16
CONTEXT_LENGTH = 32          # the longest training window (at most max_len)
WARMUP_STEPS = 30
MIN_LR_RATIO = 0.1
MAX_GRAD_NORM = 1.0
WEIGHT_DECAY = 0.1
BETAS = (0.8, 0.99)          # shorter memories than the defaults suit a short run


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    context_length: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random training windows from a token stream / 从 id 流中随机取一批窗口.

    For each of the B rows draw a start offset s uniformly from [0, N - T - 1] (every
    window of T + 1 tokens that fits, both ends included), then

        x[b] = data[s : s+T],   y[b] = data[s+1 : s+T+1]     (y is x shifted by one)

    Args:
        data: Long[N], the token ids of the training text. Not modified.
        batch_size: B, the number of windows.
        context_length: T >= 1, the tokens the model reads per window.
        generator: the torch.Generator for the offsets (None: torch's global one); the same
            generator state gives the same batch.
    Returns:
        (x, y), both Long[B, T] (the dtype of data).
    Raises:
        ValueError when N < T + 1 (no window fits) or T < 1.

    每一行随机选一个起点 s ∈ [0, N-T-1]（两端都能取到），x 取 T 个词，y 是 x 向后错开一位。
    Judged exactly on the shift, statistically on the offsets (every offset equally likely).
    """
    # TODO: check N >= T + 1; draw B offsets with torch.randint(..., generator=generator);
    #       index a [B, T + 1] block of windows out of data; split it into x and y.
    # BEGIN SOLUTION
    N, T = data.shape[0], context_length
    if T < 1 or N < T + 1:
        raise ValueError(f"need context_length >= 1 and len(data) >= context_length + 1, "
                         f"got len(data)={N}, context_length={T}")
    starts = torch.randint(N - T, (batch_size,), generator=generator)     # s in [0, N-T-1]
    windows = data[starts[:, None] + torch.arange(T + 1)]                # (B, T+1)
    return windows[:, :-1], windows[:, 1:]
    # END SOLUTION


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy, numerically stable / 数值稳定的平均交叉熵.

    loss = mean over every target position i of  logsumexp(logits[i]) - logits[i, targets[i]]
         = mean of -log softmax(logits[i])[targets[i]]

    logsumexp(z) = m + log Σ exp(z - m) with m = max(z): subtracting the max keeps exp()
    from overflowing, so logits of magnitude 1e4 still give a finite loss.

    Args:
        logits: [..., V] float (any number of leading dims, e.g. [B, T, V]).
        targets: Long[...], the same leading shape; every value in [0, V) (there is no
            ignore index here: every position counts). A shape mismatch raises ValueError.
    Returns:
        a scalar tensor in the dtype of logits: the mean over all positions; exactly 0.0
        (not NaN) when there are no positions at all (e.g. logits [0, V]). Differentiable.
    Banned: F.cross_entropy, nn.CrossEntropyLoss, F.log_softmax (any log_softmax), F.nll_loss.

    先减去每行的最大值再求 logsumexp，避免 exp 溢出；没有任何目标时返回 0.0。
    """
    # TODO: flatten to [N, V] and [N]; logsumexp per row with the max trick; pick the
    #       target's logit with gather; mean over rows (0.0 when there are none).
    # BEGIN SOLUTION
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match targets {tuple(targets.shape)}")
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                                          # (N, V)
    t = targets.reshape(-1, 1)                                         # (N, 1)
    m = z.amax(dim=-1, keepdim=True).detach()                          # (N, 1)
    lse = m.squeeze(-1) + (z - m).exp().sum(dim=-1).log()              # (N,)
    nll = lse - z.gather(-1, t).squeeze(-1)                            # (N,)
    return nll.sum() / max(nll.numel(), 1)
    # END SOLUTION


def cosine_lr(step: int, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate with linear warmup and cosine decay / 线性预热 + 余弦衰减的学习率.

        step < warmup_steps:                 max_lr * step / warmup_steps   (0 at step 0)
        warmup_steps <= step < total_steps:  min_lr + (max_lr - min_lr) * (1 + cos(pi * p)) / 2
                                             with p = (step - warmup_steps) / (total_steps - warmup_steps)
        step >= total_steps:                 min_lr

    So the rate climbs from 0 to max_lr, then glides down to min_lr at step == total_steps
    and stays there. ``warmup_steps = 0`` means no warmup (max_lr at step 0);
    ``total_steps == warmup_steps`` means no decay (min_lr from then on).

    Args:
        step: the step number, >= 0.
        max_lr, min_lr: the peak and the final rate.
        warmup_steps, total_steps: ``total_steps < warmup_steps`` raises ValueError.
    Returns:
        a Python float.

    先从 0 线性升到 max_lr，再按余弦曲线降到 min_lr，之后保持 min_lr。
    """
    # TODO: the three cases above; raise ValueError when total_steps < warmup_steps.
    # BEGIN SOLUTION
    if total_steps < warmup_steps:
        raise ValueError(f"total_steps ({total_steps}) must be >= warmup_steps ({warmup_steps})")
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return float(min_lr)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)    # 0 -> 1
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
    # END SOLUTION


def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float, eps: float = 1e-6) -> float:
    """Clip the gradients by their total norm / 按总范数裁剪梯度.

        norm = sqrt(Σ over every parameter p with a gradient of Σ p.grad²)
        if norm > max_norm:  every p.grad *= max_norm / (norm + eps)      (in place)

    All gradients are scaled by the same factor, so the update keeps its direction and only
    gets shorter: one unlucky batch cannot throw the model far away.

    Args:
        parameters: an iterable of tensors (e.g. ``model.parameters()``, a generator that can
            be read only ONCE: turn it into a list first). Those whose ``.grad`` is None are
            skipped.
        max_norm: the largest total norm allowed.
        eps: added to the norm in the factor, as torch does.
    Returns:
        the total norm BEFORE clipping, as a Python float (0.0 when no parameter has a
        gradient). The gradients are modified in place (``p.grad.mul_(...)``: the same
        tensors, new values); a norm <= max_norm leaves them untouched.
    Banned: torch.nn.utils.clip_grad_norm_ (and its helpers get_total_norm,
    clip_grads_with_norm_).

    先算所有梯度拼在一起的 L2 范数；超过 max_norm 时把每个梯度原地乘以 max_norm / (norm + eps)。
    注意 model.parameters() 是生成器，只能遍历一次。
    """
    # TODO: collect the gradients that exist (a list: you need them twice); the total norm;
    #       scale each gradient in place when the norm is too large; return the norm.
    # BEGIN SOLUTION
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).item()
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / (norm + eps))
    return norm
    # END SOLUTION


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay / 带解耦权重衰减的 Adam（AdamW）.

    For every parameter p with a gradient g, at its t-th step (t = 1, 2, ...):

        p = p * (1 - lr * weight_decay)              decoupled decay: not part of g
        m = beta1 * m + (1 - beta1) * g              running mean of g        (m starts at 0)
        v = beta2 * v + (1 - beta2) * g²             running mean of g²       (v starts at 0)
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)     bias correction
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    Each parameter moves by about lr in the direction of its averaged gradient, whatever
    the gradient's scale; the decay pulls every weight a little towards 0. This is
    ``torch.optim.AdamW`` step for step (same defaults, weight decay applied first).

    Args:
        params: an iterable of parameters, or of param-group dicts ({"params": [...], "lr":
            ...}), as for every torch optimizer (``super().__init__(params, defaults)`` sorts
            that out and fills ``self.param_groups``).
        lr, betas=(beta1, beta2), eps, weight_decay: the defaults of every group; a
            negative lr, eps or weight_decay, or a beta outside [0, 1), raises ValueError.
    ``step()`` reads ``lr`` and the rest from each group at every call (a schedule changes
    ``group["lr"]`` between steps), skips parameters whose ``.grad`` is None (they are not
    decayed either), keeps m, v and t per parameter in ``self.state[p]``, updates in place
    without building a graph (``@torch.no_grad()``) and returns None (or the closure's loss).
    Banned inside the class: torch.optim.Adam, torch.optim.AdamW (and their functional
    forms), torch._foreach_*. The inherited ``zero_grad`` is fine.

    与 torch.optim.AdamW 逐步一致：先做解耦的权重衰减，再用带偏差修正的一阶、二阶动量更新。
    没有梯度的参数跳过（也不衰减）；每次 step 都从 param_groups 里读 lr（学习率调度会改它）。
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ):
        # TODO: validate the numbers; super().__init__(params, dict(lr=..., betas=..., ...)).
        # BEGIN SOLUTION
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        # END SOLUTION

    @torch.no_grad()
    def step(self, closure=None):
        """One AdamW update of every parameter that has a gradient (see the class docstring)."""
        # TODO: for each group and each p with a gradient: create the state on first use
        #       (t = 0, m and v zeros like p); t += 1; decay p; update m, v; bias-correct; move p.
        # BEGIN SOLUTION
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, wd = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1 - lr * wd)
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = (v / (1 - beta2**t)).sqrt_().add_(eps)         # sqrt(v_hat) + eps
                p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))      # p -= lr * m_hat / denom
        return loss
        # END SOLUTION


@torch.no_grad()
def perplexity(model: MiniGPT, data: torch.Tensor, context_length: int, batch_size: int = 8) -> float:
    """Held-out perplexity / 留出数据上的困惑度.

    Cut ``data`` into consecutive windows of T + 1 tokens that overlap by one,

        window i = data[i*T : i*T + T + 1]   for i = 0, 1, ... while it fits (the last
                                             partial window is dropped)

    so that every token after the first is predicted exactly once (from at most T tokens
    before it, in the same window), and return

        exp(mean over ALL predicted tokens of -log P(data[j] | its window's earlier tokens))

    Args:
        model: a MiniGPT; it is put in eval mode (model.eval()) and run without gradients.
        data: Long[N], held-out token ids. N < T + 1 (not one window) raises ValueError.
        context_length: T, at most the model's max_len.
        batch_size: windows per forward pass; it must not change the result (the mean is
            over tokens, and every window has T of them).
    Returns:
        a Python float, >= 1.

    把数据切成相邻、首尾重叠一个词的窗口（最后不完整的窗口丢掉），对所有被预测的词求平均
    交叉熵，再取 exp。batch_size 只影响速度，不影响结果。
    """
    # TODO: model.eval(); the number of windows; for each batch of windows: logits of
    #       window[:, :-1] against window[:, 1:]; sum the cross-entropies (mean * count);
    #       exp of the total over the count.
    # BEGIN SOLUTION
    T = context_length
    n_windows = (data.shape[0] - 1) // T
    if T < 1 or n_windows < 1:
        raise ValueError(f"len(data)={data.shape[0]} holds no window of context_length + 1 = {T + 1}")
    model.eval()
    total, count = 0.0, 0
    for first in range(0, n_windows, batch_size):
        idx = torch.arange(first, min(first + batch_size, n_windows))
        windows = data[idx[:, None] * T + torch.arange(T + 1)]          # (b, T+1)
        x, y = windows[:, :-1], windows[:, 1:]
        total += cross_entropy(model(x), y).item() * y.numel()
        count += y.numel()
    return math.exp(total / count)
    # END SOLUTION


def pretrain_minigpt(
    train: torch.Tensor,
    vocab_size: int,
    max_len: int = 64,
    d_model: int = 64,
    n_heads: int = 4,
    n_layers: int = 2,
    steps: int = 100,
    lr: float = 1e-2,
    seed: int = 0,
) -> MiniGPT:
    """Pre-train a MiniGPT by next-token prediction / 用下一个词预测预训练 MiniGPT.

    Build ``MiniGPT(vocab_size, max_len, d_model, n_heads, n_layers)``, draw its two
    embeddings afresh from N(0, 1/d_model) (see below), and train it for ``steps`` steps with
    the functions above: each step a batch from ``get_batch`` (here 16 windows of
    T = min(max_len, 32) tokens: a window never exceeds max_len), ``cross_entropy`` of the
    logits against y, backward, ``clip_grad_norm`` (1.0), the learning rate from
    ``cosine_lr`` (30 warmup steps, then down to a tenth of ``lr``) written into the
    optimizer's param groups, an ``AdamW`` step (here betas (0.8, 0.99), weight decay 0.1).

    Why new embeddings: nn.Embedding starts at N(0, 1), and the head is tied to tok_emb, so an
    untrained model's logits have a standard deviation near sqrt(d_model) = 8: it is
    confidently wrong (perplexity above 1e6) and spends its first ~100 steps just shrinking
    them. With N(0, 1/d_model) every embedding has a norm near 1, the first logits have a
    standard deviation near 1 (perplexity about 80, not far from the 48 of a uniform guess)
    and learning starts at once.

    Args:
        train: Long[N], the training token stream (N > max_len). Not modified.
        vocab_size, max_len, d_model, n_heads, n_layers: the MiniGPT's size.
        steps, lr: the defaults must train well within the grader's time budget; any
            ``steps >= 1`` must work (the checks also make short runs of a few steps).
        seed: everything random (initialisation, batches) follows from it: the same
            arguments give the same model (tip: inside torch.random.fork_rng(), call
            torch.manual_seed(seed), and give get_batch a torch.Generator seeded with it).
    Returns:
        the trained MiniGPT, in eval mode.
    Judged by held-out perplexity on a shipped corpus (a synthetic language of 48 tokens
    with grammar and a hidden topic): the grader calls ``pretrain_minigpt(train, 48,
    max_len=16, seed=0)`` (other arguments at their defaults) and evaluates at
    context_length 16, within a time budget that it states (the reference's 100 steps take
    about 0.6 s of one CPU core and reach 5.3-5.6); and by the returned model's
    size and by the seed.

    用上面写好的函数搭出完整的训练循环；同样的 seed 必须得到同样的模型。训练窗口不能超过
    max_len。两个嵌入先重新按 N(0, 1/d_model) 初始化（与 lm_head 共享的 N(0, 1) 嵌入会让未训练
    模型的 logits 过大）。评分时调用 pretrain_minigpt(train, 48, max_len=16, seed=0)，
    在 context_length = 16 上看留出数据的困惑度和用时。
    """
    # TODO: seed; build the model, redraw its embeddings, and AdamW over its parameters; for
    #       each step: set the learning rate of every param group from cosine_lr, get a batch,
    #       loss, zero_grad, backward, clip_grad_norm, step. Return the model in eval mode.
    # BEGIN SOLUTION
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = MiniGPT(vocab_size, max_len, d_model, n_heads, n_layers)
        with torch.no_grad():                       # embeddings of norm ~1: logits start near 0
            model.tok_emb.weight.normal_(0.0, d_model ** -0.5)
            model.pos_emb.weight.normal_(0.0, d_model ** -0.5)
        opt = AdamW(model.parameters(), lr=lr, betas=BETAS, weight_decay=WEIGHT_DECAY)
        warmup = min(WARMUP_STEPS, steps)
        T = min(max_len, CONTEXT_LENGTH)
        model.train()
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(step, lr, lr * MIN_LR_RATIO, warmup, steps)
            x, y = get_batch(train, BATCH_SIZE, T, generator=gen)
            loss = cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            clip_grad_norm(model.parameters(), MAX_GRAD_NORM)
            opt.step()
    return model.eval()
    # END SOLUTION
