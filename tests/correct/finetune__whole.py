"""Fine-tuning MiniBERT with LoRA, a whole file in a student's own style.

* the other exercises are imported as modules (``import lora as lo``) and with a star
  import (``from heads import *``);
* ``SequenceClassifier`` is an ``nn.ModuleDict`` with the keys ``encoder`` and ``head``;
* the training loop uses ``torch.utils.data.DataLoader`` over a ``TensorDataset`` with a
  seeded generator, a dataclass for the hyper-parameters, keyword-only ``epochs``, ``lr``
  and ``seed``, a per-epoch ``print``, and the random state is restored by hand
  (``get_rng_state`` / ``set_rng_state``) rather than with ``fork_rng``;
* the module seeds torch and logs at import, and runs a tiny demo under ``__main__``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import lora as lo
import torch
from heads import *  # noqa: F403
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["SequenceClassifier", "finetune_classifier", "TrainConfig"]

logger = logging.getLogger("finetune")
logging.basicConfig(level=logging.WARNING)
torch.manual_seed(1234)


@dataclass
class TrainConfig:
    epochs: int = 4
    lr: float = 1e-2
    batch_size: int = 32
    weight_decay: float = 0.01
    targets: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj"))


DEFAULTS = TrainConfig()


class SequenceClassifier(nn.ModuleDict):
    """{"encoder": MiniBERT, "head": ClassificationHead}; forward(ids, mask) -> [B, C]."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__({"encoder": encoder, "head": head})

    def forward(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        hidden = self["encoder"].encode(ids, attention_mask)
        return self["head"](hidden, attention_mask)


def _validate(ids: Tensor, mask: Tensor | None, labels: Tensor, num_labels: int) -> None:
    if num_labels < 2:
        raise ValueError(f"need at least two labels, got num_labels={num_labels}")
    if ids.ndim != 2 or labels.shape != ids.shape[:1]:
        raise ValueError(f"train_ids must be [N, L] and train_labels [N]; got {tuple(ids.shape)}, {tuple(labels.shape)}")
    if mask is not None and mask.shape != ids.shape:
        raise ValueError(f"train_mask {tuple(mask.shape)} must have the shape of train_ids {tuple(ids.shape)}")
    if labels.numel() == 0 or int(labels.min()) < 0 or int(labels.max()) >= num_labels:
        raise ValueError(f"labels must be non-empty and lie in [0, {num_labels})")


def finetune_classifier(
    model: nn.Module,
    train_ids: Tensor,
    train_mask: Tensor | None,
    train_labels: Tensor,
    num_labels: int,
    r: int = 4,
    alpha: float = 8.0,
    *,
    epochs: int = DEFAULTS.epochs,
    lr: float = DEFAULTS.lr,
    seed: int = 0,
    **unused: object,
) -> nn.Module:
    """Deep-copy, LoRA on the attention projections, a head, AdamW on what requires grad."""
    if unused:
        logger.warning("ignoring unknown options %s", sorted(unused))
    _validate(train_ids, train_mask, train_labels, num_labels)
    cfg = TrainConfig(epochs=epochs, lr=lr)
    saved = torch.get_rng_state()
    try:
        torch.manual_seed(seed)
        encoder = lo.apply_lora(copy.deepcopy(model), list(cfg.targets), r, alpha)
        ref = model.tok_emb.weight
        head = ClassificationHead(ref.shape[-1], num_labels, "mean").to(dtype=ref.dtype, device=ref.device)  # noqa: F405
        clf = SequenceClassifier(encoder, head)
        trainable = [p for p in clf.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
        mask = train_mask if train_mask is not None else torch.ones_like(train_ids, dtype=torch.bool)
        loader = DataLoader(TensorDataset(train_ids, mask, train_labels), batch_size=cfg.batch_size,
                            shuffle=True, generator=torch.Generator().manual_seed(seed))
        loss_fn = nn.CrossEntropyLoss()
        clf.train()
        for epoch in range(cfg.epochs):
            total, seen = 0.0, 0
            for ids_b, mask_b, y_b in loader:
                optim.zero_grad(set_to_none=True)
                loss = loss_fn(clf(ids_b, mask_b), y_b)
                loss.backward()
                optim.step()
                total += loss.item() * len(y_b)
                seen += len(y_b)
            print(f"[finetune] epoch {epoch + 1}/{cfg.epochs}: loss {total / seen:.4f}")  # noqa: T201
    finally:
        torch.set_rng_state(saved)
    clf.eval()
    return clf


if __name__ == "__main__":
    from models import MiniBERT

    bert = MiniBERT(20, 16, 16, 2, 1, 32)
    ids = torch.randint(3, 20, (40, 8))
    ids[:, 0] = 1
    labels = (ids[:, 1] % 2).long()
    clf = finetune_classifier(bert, ids, None, labels, 2, epochs=2)
    print(clf(ids[:4], torch.ones(4, 8, dtype=torch.bool)).shape)  # noqa: T201
