"""Oracle tests for solutions/pretrain.py, and for the numpy formulas the checks judge with.

Oracles nobody on the team wrote:
- ``torch.optim.AdamW`` step for step (defaults, other hyper-parameters, param groups, a
  learning rate changed between steps, parameters without a gradient, float32), for the
  reference AdamW and for the numpy AdamW in grader/course/pretrain.py;
- ``F.cross_entropy`` (values, gradients, logits of 1e4) for the reference and the checks'
  numpy ``_nll``;
- ``torch.nn.utils.clip_grad_norm_`` (returned norm, gradients after clipping);
- ``torch.optim.lr_scheduler.CosineAnnealingLR`` and 🤗 transformers'
  ``get_cosine_schedule_with_warmup`` / ``get_cosine_with_min_lr_schedule_with_warmup``
  (skipped with the reason when transformers is missing) for cosine_lr;
- 🤗 ``GPT2LMHeadModel(labels=...)``'s loss, via ``to_hf_gpt2_state_dict``, for perplexity.
"""

from __future__ import annotations

import importlib
import math

import models
import numpy as np
import pretrain
import pytest
import torch
import torch.nn.functional as F
from torch import nn

checks = importlib.import_module("grader.course.pretrain")

SHAPES = [(3, 4), (5,), (2, 3, 2)]


def _params(seed: int, dtype=torch.float64) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64).to(dtype)) for s in SHAPES]


def _grads(step: int, dtype=torch.float64) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + step)
    return [(torch.randn(s, generator=g, dtype=torch.float64) * 10.0 ** (step % 4 - 2)).to(dtype)
            for s in SHAPES]


def _run(opt_cls, params, steps: int, skip=(), lr_at=None, **kwargs):
    opt = opt_cls(params, **kwargs)
    history = []
    for step in range(1, steps + 1):
        for group_index, lr in (lr_at or {}).get(step, ()):
            opt.param_groups[group_index]["lr"] = lr
        opt.zero_grad()
        flat = [p for group in opt.param_groups for p in group["params"]]
        for i, (p, g) in enumerate(zip(flat, _grads(step, flat[0].dtype))):
            if (step, i) not in skip:
                p.grad = g.clone()
        opt.step()
        history.append([p.detach().clone() for p in flat])
    return history


HYPER = [{}, {"lr": 0.05, "betas": (0.8, 0.95), "weight_decay": 0.0},
         {"lr": 0.02, "eps": 1e-2, "weight_decay": 0.5}, {"lr": 1e-3, "eps": 1e-8, "weight_decay": 0.1}]


@pytest.mark.parametrize("kwargs", HYPER)
def test_adamw_matches_torch_step_for_step(kwargs):
    mine = _run(pretrain.AdamW, _params(0), 8, skip={(3, 1), (4, 1)}, **kwargs)
    theirs = _run(torch.optim.AdamW, _params(0), 8, skip={(3, 1), (4, 1)}, **kwargs)
    for a, b in zip(mine, theirs):
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)


def test_adamw_param_groups_schedule_and_float32():
    def groups(params):
        return [{"params": params[:2], "lr": 0.03}, {"params": params[2:], "weight_decay": 0.3}]

    lr_at = {2: [(0, 0.1)], 4: [(0, 0.0), (1, 0.05)]}
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        mine = _run(pretrain.AdamW, groups(_params(1, dtype)), 6, lr_at=lr_at, lr=0.01, weight_decay=0.1)
        theirs = _run(torch.optim.AdamW, groups(_params(1, dtype)), 6, lr_at=lr_at, lr=0.01, weight_decay=0.1)
        for a, b in zip(mine, theirs):
            for x, y in zip(a, b):
                assert x.dtype == dtype
                torch.testing.assert_close(x, y, rtol=tol, atol=tol)


def test_adamw_defaults_are_torchs():
    import inspect

    ours = inspect.signature(pretrain.AdamW).parameters
    theirs = inspect.signature(torch.optim.AdamW).parameters
    for name in ("lr", "betas", "eps", "weight_decay"):
        assert ours[name].default == theirs[name].default, name


@pytest.mark.parametrize("kwargs", HYPER)
def test_checks_numpy_adamw_matches_torch(kwargs):
    """The formula grader/course/pretrain.py judges AdamW with is torch's."""
    theirs = _run(torch.optim.AdamW, _params(2), 6, skip={(3, 1)}, **kwargs)
    h = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01} | kwargs
    values = [p.detach().numpy().astype(np.float64) for p in _params(2)]
    states: list[dict] = [{} for _ in SHAPES]
    for step in range(1, 7):
        for i, g in enumerate(_grads(step)):
            if (step, i) != (3, 1):
                values[i] = checks._adamw_numpy(values[i], states[i], g.numpy(), h["lr"], h["betas"], h["eps"],
                                                h["weight_decay"])
        for v, t in zip(values, theirs[step - 1]):
            np.testing.assert_allclose(v, t.numpy(), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- cross_entropy


@pytest.mark.parametrize("shape,scale,dtype", [((2, 3, 7), 2.0, torch.float64), ((5, 4), 1e4, torch.float64),
                                                ((3, 2, 6), 1e4, torch.float32), ((2, 2, 2, 5), 1.0, torch.float32)])
def test_cross_entropy_matches_torch(shape, scale, dtype):
    g = torch.Generator().manual_seed(3)
    logits = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype).requires_grad_(True)
    targets = torch.randint(shape[-1], shape[:-1], generator=g)
    ours = pretrain.cross_entropy(logits, targets)
    theirs = F.cross_entropy(logits.reshape(-1, shape[-1]), targets.reshape(-1))
    assert ours.dtype == dtype and ours.shape == ()
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(ours, theirs, rtol=tol, atol=tol)
    (ga,) = torch.autograd.grad(ours, logits)
    (gb,) = torch.autograd.grad(theirs, logits)
    torch.testing.assert_close(ga, gb, rtol=tol, atol=tol)
    np.testing.assert_allclose(checks._nll(logits.detach().numpy(), targets.numpy()).mean(),
                               theirs.item(), rtol=1e-5 if dtype == torch.float32 else 1e-12)


def test_cross_entropy_without_targets_is_zero_not_nan():
    assert F.cross_entropy(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long)).isnan()  # torch's mean
    out = pretrain.cross_entropy(torch.zeros(0, 5, requires_grad=True), torch.zeros(0, dtype=torch.long))
    assert out.item() == 0.0 and out.requires_grad


# ---------------------------------------------------------------- clip_grad_norm


@pytest.mark.parametrize("scale,max_norm,dtype", [(3.0, 1.0, torch.float64), (0.9, 1.0, torch.float64),
                                                   (5.0, 0.5, torch.float32), (1.001, 1.0, torch.float64)])
def test_clip_grad_norm_matches_torch(scale, max_norm, dtype):
    def setup():
        params = _params(4, dtype) + [nn.Parameter(torch.ones(3, dtype=dtype))]   # the last: no grad
        grads = _grads(5, dtype)
        total = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
        for p, g in zip(params, grads):
            p.grad = (g.double() * (scale * max_norm / total)).to(dtype)
        return params

    ours, theirs = setup(), setup()
    held = [p.grad for p in ours[:3]]
    n_ours = pretrain.clip_grad_norm(iter(ours), max_norm)
    n_theirs = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert isinstance(n_ours, float)
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    assert n_ours == pytest.approx(n_theirs.item(), rel=tol)
    for a, b, h in zip(ours, theirs, held + [None]):
        if b.grad is None:
            assert a.grad is None
            continue
        assert a.grad is h                                    # scaled in place
        torch.testing.assert_close(a.grad, b.grad, rtol=tol, atol=tol)


# ---------------------------------------------------------------- cosine_lr


def _scheduled(sched_fn, steps: int, max_lr: float) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=max_lr)
    sched = sched_fn(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cosine_lr_without_warmup_matches_cosine_annealing():
    max_lr, min_lr, total = 3e-3, 3e-4, 40
    theirs = _scheduled(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=min_lr),
                        total + 1, max_lr)
    ours = [pretrain.cosine_lr(s, max_lr, min_lr, 0, total) for s in range(total + 1)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)


def test_cosine_lr_matches_transformers_schedules():
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    from transformers import get_cosine_schedule_with_warmup

    max_lr, warmup, total = 1e-2, 10, 60
    theirs = _scheduled(lambda o: get_cosine_schedule_with_warmup(o, warmup, total), total + 1, max_lr)
    ours = [pretrain.cosine_lr(s, max_lr, 0.0, warmup, total) for s in range(total + 1)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)
    with_min = getattr(transformers, "get_cosine_with_min_lr_schedule_with_warmup", None)
    if with_min is None:
        pytest.skip("this transformers has no get_cosine_with_min_lr_schedule_with_warmup")
    theirs = _scheduled(lambda o: with_min(o, warmup, total, min_lr=1e-3), total + 1, max_lr)
    ours = [pretrain.cosine_lr(s, max_lr, 1e-3, warmup, total) for s in range(total + 1)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)


def test_checks_cosine_formula_is_the_reference():
    for args in ((1e-2, 1e-3, 10, 50), (3e-3, 0.0, 0, 20), (1.0, 0.25, 7, 7)):
        for step in range(args[3] + 5):
            assert checks._cosine(step, *args) == pytest.approx(pretrain.cosine_lr(step, *args), rel=1e-15)


# ---------------------------------------------------------------- perplexity


def test_perplexity_matches_gpt2_loss():
    pytest.importorskip("transformers", reason="transformers is not installed")
    from transformers import GPT2Config, GPT2LMHeadModel

    V, max_len, D, H, N = 13, 16, 12, 3, 2
    torch.manual_seed(0)
    model = models.MiniGPT(V, max_len, D, H, N).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.3)
    config = GPT2Config(activation_function="gelu", n_positions=max_len, n_embd=D, n_head=H, n_layer=N,
                        n_inner=4 * D, vocab_size=V, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    hf = GPT2LMHeadModel(config).double().eval()
    hf.load_state_dict(models.to_hf_gpt2_state_dict(model), strict=False)
    data = torch.randint(V, (101,), generator=torch.Generator().manual_seed(5))
    T = 8
    windows = torch.stack([data[i * T:i * T + T + 1] for i in range((len(data) - 1) // T)])
    with torch.no_grad():
        # GPT-2 shifts the labels itself: the loss of a window predicts its last T tokens
        losses = [hf(w[None], labels=w[None]).loss.item() for w in windows]
    want = math.exp(sum(losses) / len(losses))            # every window predicts T tokens
    for batch_size in (1, 3, 8, 100):
        # 🤗 computes its loss in float32 (ForCausalLMLoss upcasts the logits to float)
        assert pretrain.perplexity(model, data, T, batch_size) == pytest.approx(want, rel=1e-6)


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    V = 17
    model = models.MiniGPT(V, 8, 8, 2, 1)
    with torch.no_grad():
        model.ln_f.weight.zero_()
        model.ln_f.bias.zero_()                           # logits all 0: uniform over V
    data = torch.randint(V, (50,))
    assert pretrain.perplexity(model, data, 8) == pytest.approx(V, rel=1e-6)
