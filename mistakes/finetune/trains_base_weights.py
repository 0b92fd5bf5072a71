"""You train every weight of the copied model (full fine-tuning), not only the LoRA and head parameters: the pretrained weights change.

zh: 你训练了复制出来的模型的全部参数（全量微调），而不只是 LoRA 和分类头：预训练权重被改变了。
catches: finetune_frozen_base, finetune_lora_targets
"""
import copy

import torch
import torch.nn.functional as F
from heads import ClassificationHead
from lora import apply_lora


def finetune_classifier(model, train_ids, train_mask, train_labels, num_labels,
                        r=4, alpha=8.0, epochs=10, lr=5e-3, seed=0):
    torch.manual_seed(seed)
    encoder = apply_lora(copy.deepcopy(model), ["q_proj", "k_proj", "v_proj", "o_proj"], r, alpha)
    clf = SequenceClassifier(encoder, ClassificationHead(model.tok_emb.embedding_dim, num_labels, "mean"))  # noqa: F821
    clf.requires_grad_(True)
    opt = torch.optim.AdamW(clf.parameters(), lr=lr)
    n = train_ids.shape[0]
    for _ in range(epochs):
        for idx in torch.randperm(n).split(32):
            loss = F.cross_entropy(clf(train_ids[idx], train_mask[idx]), train_labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return clf.eval()
