"""Your dpo_train runs the reference with gradients on: backward fills its parameters' .grad; compute its log-probabilities under torch.no_grad().

zh: 你的 dpo_train 在计算参考模型时没有关闭梯度：反向传播会填充它参数的 .grad；应当在 torch.no_grad() 下计算它的对数概率。
catches: dpo_train_leaves_inputs
"""

import copy

import torch


def dpo_train(policy, reference, chosen, rejected, beta=0.1, epochs=4, lr=3e-3, seed=0):
    c_ids, c_labels, _ = chosen
    r_ids, r_labels, _ = rejected
    model = copy.deepcopy(policy).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(c_ids), generator=order).split(32):
            pc = sequence_logprob(model(c_ids[idx]), c_ids[idx], c_labels[idx])  # noqa: F821
            pr = sequence_logprob(model(r_ids[idx]), r_ids[idx], r_labels[idx])  # noqa: F821
            rc = sequence_logprob(reference(c_ids[idx]), c_ids[idx], c_labels[idx])  # noqa: F821
            rr = sequence_logprob(reference(r_ids[idx]), r_ids[idx], r_labels[idx])  # noqa: F821
            loss, _, _ = dpo_loss(pc, pr, rc, rr, beta)  # noqa: F821
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()
