"""You add LoRA but give the optimizer only the head's parameters: the LoRA matrices never move (lora_B stays 0).

zh: 你加了 LoRA，却只把分类头的参数交给优化器：LoRA 矩阵从未更新（lora_B 一直是 0）。
catches: finetune_frozen_base
"""
import copy

import torch
import torch.nn.functional as F
from heads import ClassificationHead
from lora import apply_lora


def finetune_classifier(model, train_ids, train_mask, train_labels, num_labels,
                        r=4, alpha=8.0, epochs=10, lr=5e-3, seed=0):
    n = train_ids.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = apply_lora(copy.deepcopy(model), ["q_proj", "k_proj", "v_proj", "o_proj"], r, alpha)
        head = ClassificationHead(model.tok_emb.embedding_dim, num_labels, pooling="mean")
        clf = SequenceClassifier(encoder, head)  # noqa: F821 - the reference's class, defined above
        opt = torch.optim.AdamW(head.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        clf.train()
        for _ in range(epochs):
            for idx in torch.randperm(n, generator=gen).split(32):
                mask = None if train_mask is None else train_mask[idx]
                loss = F.cross_entropy(clf(train_ids[idx], mask), train_labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return clf.eval()
