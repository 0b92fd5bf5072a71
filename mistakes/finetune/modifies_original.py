"""You add LoRA to the caller's model itself instead of to a copy, so fine-tuning changes the model you were given.

zh: 你直接在传入的模型上加了 LoRA（没有先 copy.deepcopy），微调改变了调用者的模型。
catches: finetune_model_unchanged
"""
import torch
import torch.nn.functional as F
from heads import ClassificationHead
from lora import apply_lora


def finetune_classifier(model, train_ids, train_mask, train_labels, num_labels,
                        r=4, alpha=8.0, epochs=10, lr=5e-3, seed=0):
    torch.manual_seed(seed)
    encoder = apply_lora(model, ["q_proj", "k_proj", "v_proj", "o_proj"], r, alpha)
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
