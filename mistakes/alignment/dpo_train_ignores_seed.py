"""Your dpo_train ignores seed: the batch order comes from torch's global random state, so the same call gives a different model.

zh: 你的 dpo_train 忽略了 seed：批次顺序取决于 torch 的全局随机状态，同样的调用得到不同的模型。
catches: dpo_train_seed
"""

import copy

import torch


def dpo_train(policy, reference, chosen, rejected, beta=0.1, epochs=4, lr=3e-3, seed=0):
    c_ids, c_labels, _ = chosen
    r_ids, r_labels, _ = rejected
    with torch.no_grad():
        ref_c = sequence_logprob(reference(c_ids), c_ids, c_labels)  # noqa: F821
        ref_r = sequence_logprob(reference(r_ids), r_ids, r_labels)  # noqa: F821
    model = copy.deepcopy(policy).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(epochs):
        for idx in torch.randperm(len(c_ids)).split(32):
            pc = sequence_logprob(model(c_ids[idx]), c_ids[idx], c_labels[idx])  # noqa: F821
            pr = sequence_logprob(model(r_ids[idx]), r_ids[idx], r_labels[idx])  # noqa: F821
            loss, _, _ = dpo_loss(pc, pr, ref_c[idx], ref_r[idx], beta)  # noqa: F821
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()
