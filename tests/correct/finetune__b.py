"""finetune written a second other way: the copy is trained in float64 and cast back to the
model's dtype at the end (float32 -> float64 -> float32 is exact for the frozen weights);
everything random comes from the function's own torch.Generator, not the global RNG: the
LoRA A matrices and the head are redrawn from it after construction (kaiming_uniform_ with
a=sqrt(5), as nn.Linear would), construction itself runs inside fork_rng so that the caller's
random state is left alone; LoRA goes in through apply_lora given a generator expression of
the names; mean pooling (the reference's choice) but every batch is cut to its longest real
sentence (right padding only: the mask's last True column); AdamW without weight decay at
lr 2e-2, betas (0.9, 0.98), batches of 64, 6 epochs with one epoch of linear warmup then a
cosine decay (LambdaLR), cross-entropy with label smoothing 0.05 and gradient clipping at 1.0.
SequenceClassifier.forward accepts an integer 0/1 mask as well (turned into bool) and passes
None through."""

import copy as _copy
import math as _math

import torch as _torch
import torch.nn.functional as _F
from heads import ClassificationHead as _ClassificationHead
from lora import LoRALinear as _LoRALinear
from lora import apply_lora as _apply_lora
from torch import nn as _nn


def _sequence_classifier_forward(self, ids, attention_mask=None):
    mask = None if attention_mask is None else attention_mask.to(_torch.bool)
    hidden = self.encoder.encode(ids, mask)
    return self.head(hidden, mask)


SequenceClassifier.forward = _sequence_classifier_forward  # noqa: F821


def _redraw(clf, gen):
    """Every freshly created (random) parameter drawn again from ``gen``."""
    with _torch.no_grad():
        for module in clf.modules():
            if isinstance(module, _LoRALinear):
                a = _torch.empty(module.lora_A.shape, dtype=_torch.float64)
                bound = 1.0 / _math.sqrt(a.shape[1])                   # kaiming_uniform_(a=sqrt(5))
                a.uniform_(-bound, bound, generator=gen)
                module.lora_A.copy_(a)
        proj = clf.head.proj
        bound = 1.0 / _math.sqrt(proj.in_features)
        for p in (proj.weight, proj.bias):
            p.copy_(_torch.empty(p.shape, dtype=_torch.float64).uniform_(-bound, bound, generator=gen))


def _crop(ids, mask):
    if mask is None:
        return ids, None
    real = mask.any(dim=0).nonzero()
    width = int(real.max()) + 1 if real.numel() else 1
    return ids[:, :width], mask[:, :width]


def finetune_classifier(model, train_ids, train_mask, train_labels, num_labels, r=4, alpha=8.0,
                        epochs=6, lr=2e-2, seed=0):
    if num_labels < 2:
        raise ValueError(f"num_labels must be at least 2, got {num_labels}")
    n = int(train_ids.shape[0])
    if n == 0 or tuple(train_labels.shape) != (n,):
        raise ValueError("need one label per training sentence, and at least one sentence")
    if train_mask is not None and tuple(train_mask.shape) != tuple(train_ids.shape):
        raise ValueError("train_mask must have the shape of train_ids")
    if int(train_labels.min()) < 0 or int(train_labels.max()) >= num_labels:
        raise ValueError(f"labels must lie in [0, {num_labels})")
    dtype = model.tok_emb.weight.dtype
    device = model.tok_emb.weight.device
    gen = _torch.Generator().manual_seed(seed)

    with _torch.random.fork_rng(devices=[]):
        encoder = _copy.deepcopy(model).to(_torch.float64)
        encoder = _apply_lora(encoder, (name for name in ("q_proj", "k_proj", "v_proj", "o_proj")), r, alpha)
        head = _ClassificationHead(model.tok_emb.embedding_dim, num_labels, pooling="mean").to(_torch.float64)
        clf = SequenceClassifier(encoder, head).to(device)  # noqa: F821
    _redraw(clf, gen)

    trainable = [p for p in clf.parameters() if p.requires_grad]
    opt = _torch.optim.AdamW(trainable, lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    batch = 64
    per_epoch = -(-n // batch)
    total, warmup = epochs * per_epoch, per_epoch

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + _math.cos(_math.pi * (step - warmup) / max(1, total - warmup)))

    sched = _torch.optim.lr_scheduler.LambdaLR(opt, factor)
    clf.train()
    for _ in range(epochs):
        order = _torch.randperm(n, generator=gen)
        for idx in order.split(batch):
            ids = train_ids[idx]
            mask = None if train_mask is None else train_mask[idx].to(_torch.bool)
            ids, mask = _crop(ids, mask)
            logits = clf(ids, mask)
            loss = _F.cross_entropy(logits, train_labels[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            _nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            sched.step()
    clf.to(dtype)
    return clf.eval()
