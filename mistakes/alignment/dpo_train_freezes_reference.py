"""Your dpo_train freezes the reference with requires_grad_(False): it changes the caller's model; read it under torch.no_grad() instead.

zh: 你的 dpo_train 用 requires_grad_(False) 冻结了参考模型：这改变了调用者的模型；应当在 torch.no_grad() 下读取它。
catches: dpo_train_leaves_inputs
"""

import copy

import torch


def dpo_train(policy, reference, chosen, rejected, beta=0.1, epochs=4, lr=3e-3, seed=0):
    c_ids, c_labels, _ = chosen
    r_ids, r_labels, _ = rejected
    reference.requires_grad_(False)
    ref_c = sequence_logprob(reference(c_ids), c_ids, c_labels)  # noqa: F821
    ref_r = sequence_logprob(reference(r_ids), r_ids, r_labels)  # noqa: F821
    model = copy.deepcopy(policy).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(c_ids), generator=order).split(32):
            pc = sequence_logprob(model(c_ids[idx]), c_ids[idx], c_labels[idx])  # noqa: F821
            pr = sequence_logprob(model(r_ids[idx]), r_ids[idx], r_labels[idx])  # noqa: F821
            loss, _, _ = dpo_loss(pc, pr, ref_c[idx], ref_r[idx], beta)  # noqa: F821
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()
