"""finetune written another way: the classifier keeps the [CLS] vector (pooling "cls")
instead of the mean; LoRA is put in by hand (a walk over named_modules that swaps in
lora.LoRALinear, every other parameter frozen parameter by parameter) rather than with
apply_lora; the caller's random state is saved and restored by hand instead of fork_rng;
training uses torch.optim.Adam (no weight decay), batches of 16, 8 epochs at lr 5e-3 with a
linearly decaying learning rate, and a cross-entropy written as logsumexp - picked logit.
SequenceClassifier.forward fills in an all-True mask when none is given."""

import copy as _copy

import torch as _torch
from heads import ClassificationHead as _ClassificationHead
from lora import LoRALinear as _LoRALinear
from torch import nn as _nn

_TARGETS = frozenset({"q_proj", "k_proj", "v_proj", "o_proj"})


def _classifier_forward(self, ids, attention_mask=None):
    if attention_mask is None:
        attention_mask = _torch.ones(ids.shape, dtype=_torch.bool, device=ids.device)
    hidden = self.encoder.encode(ids, attention_mask)
    return self.head(hidden, attention_mask)


SequenceClassifier.forward = _classifier_forward  # noqa: F821


def _add_lora(encoder, r, alpha):
    for p in encoder.parameters():
        p.requires_grad = False
    swaps = []
    for module in encoder.modules():
        for name, child in module.named_children():
            if name in _TARGETS and isinstance(child, _nn.Linear):
                swaps.append((module, name, child))
    for module, name, child in swaps:
        setattr(module, name, _LoRALinear(child, r, alpha))
    return encoder


def _xent(logits, labels):
    picked = logits.gather(1, labels[:, None]).squeeze(1)
    return (_torch.logsumexp(logits, dim=1) - picked).mean()


def finetune_classifier(model, train_ids, train_mask, train_labels, num_labels, r=4, alpha=8.0,
                        epochs=8, lr=5e-3, seed=0):
    n = len(train_labels)
    if num_labels < 2 or n == 0:
        raise ValueError("need num_labels >= 2 and at least one training example")
    if train_mask is None:
        train_mask = _torch.ones_like(train_ids, dtype=_torch.bool)
    d_model = model.tok_emb.embedding_dim
    dtype, device = model.tok_emb.weight.dtype, model.tok_emb.weight.device

    saved = _torch.get_rng_state()
    try:
        _torch.manual_seed(seed)
        encoder = _add_lora(_copy.deepcopy(model), r, alpha)
        head = _ClassificationHead(d_model, num_labels, pooling="cls").to(device=device, dtype=dtype)
        clf = SequenceClassifier(encoder, head)  # noqa: F821
        trainable = [p for p in clf.parameters() if p.requires_grad]
        opt = _torch.optim.Adam(trainable, lr=lr)
        batch = 16
        steps_per_epoch = (n + batch - 1) // batch
        total = epochs * steps_per_epoch
        sched = _torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / max(total, 1))
        order_gen = _torch.Generator().manual_seed(10_000 + seed)
        clf.train()
        for _epoch in range(epochs):
            order = _torch.randperm(n, generator=order_gen)
            for start in range(0, n, batch):
                idx = order[start:start + batch]
                loss = _xent(clf(train_ids[idx], train_mask[idx]), train_labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    finally:
        _torch.set_rng_state(saved)
    clf.eval()
    return clf
