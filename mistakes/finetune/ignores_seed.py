"""Your fine-tuning ignores seed: the head, the LoRA matrices and the batch order come from whatever the global random state is, so the same call gives a different classifier.

zh: 你的微调忽略了 seed：分类头、LoRA 矩阵和批次顺序取决于全局随机状态，同样的调用得到不同的分类器。
catches: finetune_seed
"""
import copy

import torch
import torch.nn.functional as F
from heads import ClassificationHead
from lora import apply_lora


def finetune_classifier(model, train_ids, train_mask, train_labels, num_labels,
                        r=4, alpha=8.0, epochs=10, lr=5e-3, seed=0):
    encoder = apply_lora(copy.deepcopy(model), ["q_proj", "k_proj", "v_proj", "o_proj"], r, alpha)
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
