"""You never add LoRA: only the classification head is trained, the attention projections get no low-rank update.

zh: 你没有加 LoRA：只训练了分类头，注意力投影层没有低秩增量。
catches: finetune_lora_targets
"""
import copy

import torch
import torch.nn.functional as F
from heads import ClassificationHead
from lora import apply_lora


def finetune_classifier(model, train_ids, train_mask, train_labels, num_labels,
                        r=4, alpha=8.0, epochs=10, lr=5e-3, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = copy.deepcopy(model).requires_grad_(False)
        clf = SequenceClassifier(encoder, ClassificationHead(model.tok_emb.embedding_dim, num_labels, "mean"))  # noqa: F821
        opt = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=lr)
        n = train_ids.shape[0]
        for _ in range(epochs):
            for idx in torch.randperm(n).split(32):
                loss = F.cross_entropy(clf(train_ids[idx], train_mask[idx]), train_labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return clf.eval()
