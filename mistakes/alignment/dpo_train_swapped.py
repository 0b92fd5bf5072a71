"""Your dpo_train passes the rejected answers where the chosen ones belong: the policy learns to prefer the worse answers.

zh: 你的 dpo_train 把 rejected 放在了 chosen 的位置：策略学会了偏好更差的回答。
catches: dpo_train_quality
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
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(c_ids), generator=order).split(32):
            pc = sequence_logprob(model(c_ids[idx]), c_ids[idx], c_labels[idx])  # noqa: F821
            pr = sequence_logprob(model(r_ids[idx]), r_ids[idx], r_labels[idx])  # noqa: F821
            loss, _, _ = dpo_loss(pr, pc, ref_r[idx], ref_c[idx], beta)  # noqa: F821
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()
