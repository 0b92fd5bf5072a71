"""You add LoRA to the feed-forward layers (up, down) instead of the attention projections q_proj, k_proj, v_proj, o_proj.

zh: 你把 LoRA 加在了前馈网络 (up, down) 上，而不是注意力的投影层 q_proj, k_proj, v_proj, o_proj。
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
        encoder = apply_lora(copy.deepcopy(model), ["up", "down"], r, alpha)
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
