"""`alignment` written a second other way: format_chat with ``CHAT_TEMPLATE.format_map`` after
checking every role first; build_sft_example records the counted spans (start, end) and writes
them into a tensor of -100s by slicing; collate stacks ``F.pad``-ed rows (the mask padded too);
sequence_logprob as minus the per-token ``F.cross_entropy`` with ``ignore_index`` (targets set
to -100 where the label is), summed; reward_model_loss as ``binary_cross_entropy_with_logits``
against ones; dpo_loss in float64 inside with ``F.softplus`` (default threshold) and rewards
computed from detached inputs; group_advantages with segment sums (``index_add``) instead of a
reshape, groups of one answered with ``rewards - rewards``; the PPO loss as the maximum of the
negated surrogates, multiplied by a float mask (trl's form) with ``clamp(min=1)`` on the count;
dpo_train: the reference's log-probabilities under ``torch.no_grad`` once, in chunks of 64,
numpy's ``default_rng(seed)`` for the order, batches of 24 (last partial batch kept), AdamW with
betas (0.9, 0.95) and no weight decay, the learning rate decayed linearly to 0, the copy kept in
eval mode while training (MiniGPT has no dropout)."""

import copy

import numpy as np
import torch
import torch.nn.functional as F


def _role_of(message):
    role = message.get("role")
    if role not in ("system", "user", "assistant"):
        raise ValueError(f"unknown chat role {role!r} (expected system, user or assistant)")
    return role


def format_chat(messages, add_generation_prompt=False):
    for m in messages:
        _role_of(m)
    text = "".join(CHAT_TEMPLATE.format_map({"role": m["role"], "content": m["content"]})  # noqa: F821
                   for m in messages)
    return text + ("<|assistant|>\n" if add_generation_prompt else "")


def build_sft_example(messages, encode):
    ids: list[int] = []
    spans: list[tuple[int, int]] = []
    for m in messages:
        role = _role_of(m)
        ids.extend(encode("<|" + role + "|>\n"))
        start = len(ids)
        ids.extend(encode(m["content"] + "<|end|>"))
        if role == "assistant":
            spans.append((start, len(ids)))
        ids.extend(encode("\n"))
    ids_t = torch.tensor(ids, dtype=torch.int64).reshape(-1)
    labels = torch.full_like(ids_t, -100)
    for start, end in spans:
        labels[start:end] = ids_t[start:end]
    return ids_t, labels


def collate(examples, pad_id):
    L = max(int(ids.numel()) for ids, _ in examples)
    rows_ids, rows_labels, rows_mask = [], [], []
    for ids, labels in examples:
        extra = L - int(ids.numel())
        rows_ids.append(F.pad(ids.long(), (0, extra), value=pad_id))
        rows_labels.append(F.pad(labels.long(), (0, extra), value=-100))
        rows_mask.append(F.pad(torch.ones(int(ids.numel())), (0, extra), value=0.0) > 0.5)
    return torch.stack(rows_ids), torch.stack(rows_labels), torch.stack(rows_mask)


def sequence_logprob(logits, ids, labels):
    targets = ids[:, 1:].masked_fill(labels[:, 1:] == -100, -100)             # (B, L-1)
    nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), targets, ignore_index=-100,
                          reduction="none")                                      # (B, L-1), 0 where ignored
    return -nll.sum(dim=1)


def reward_model_loss(chosen, rejected, margin=None):
    z = chosen - rejected
    if margin is not None:
        z = z - margin
    return F.binary_cross_entropy_with_logits(z, torch.ones_like(z))


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=0.1):
    d = torch.float64
    z = beta * ((policy_chosen.to(d) - ref_chosen.to(d)) - (policy_rejected.to(d) - ref_rejected.to(d)))
    loss = F.softplus(-z).mean().to(policy_chosen.dtype)
    chosen_rewards = beta * (policy_chosen.detach() - ref_chosen.detach())
    rejected_rewards = beta * (policy_rejected.detach() - ref_rejected.detach())
    return loss, chosen_rewards, rejected_rewards


def group_advantages(rewards, group_size, normalize_std=True, eps=1e-4):
    n = int(rewards.shape[0])
    if group_size < 1 or n % group_size != 0:
        raise ValueError(f"cannot split {n} rewards into groups of group_size={group_size}")
    if group_size == 1:
        return rewards - rewards                                                # every advantage 0
    gid = torch.arange(n) // group_size
    n_groups = n // group_size
    means = rewards.new_zeros(n_groups).index_add(0, gid, rewards) / group_size
    centred = rewards - means[gid]
    if not normalize_std:
        return centred
    var = rewards.new_zeros(n_groups).index_add(0, gid, centred * centred) / (group_size - 1)
    return centred / (var.sqrt()[gid] + eps)


def ppo_clip_loss(logp, old_logp, advantages, mask, clip_eps=0.2):
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(1)
    # -min(r·A, clip(r)·A) = max(-r·A, -clip(r)·A)
    per_token = torch.maximum(-ratio * adv, -torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv)
    weight = mask.to(per_token.dtype)
    return (per_token * weight).sum() / weight.sum().clamp(min=1.0)


def _logprobs_in_chunks(model, ids, labels, chunk=64):
    return torch.cat([sequence_logprob(model(ids[i:i + chunk]), ids[i:i + chunk], labels[i:i + chunk])
                      for i in range(0, ids.shape[0], chunk)])


def dpo_train(policy, reference, chosen, rejected, beta=0.1, epochs=3, lr=2e-3, seed=0):
    c_ids, c_labels = chosen[0], chosen[1]
    r_ids, r_labels = rejected[0], rejected[1]
    n = int(c_ids.shape[0])
    with torch.no_grad():
        ref_c = _logprobs_in_chunks(reference, c_ids, c_labels)
        ref_r = _logprobs_in_chunks(reference, r_ids, r_labels)
    model = copy.deepcopy(policy).eval()           # no dropout in MiniGPT: eval mode trains the same
    batch = 24
    steps = epochs * -(-n // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / max(1, steps)))
    order_rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = torch.from_numpy(order_rng.permutation(n))
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            pc = sequence_logprob(model(c_ids[idx]), c_ids[idx], c_labels[idx])
            pr = sequence_logprob(model(r_ids[idx]), r_ids[idx], r_labels[idx])
            loss, _, _ = dpo_loss(pc, pr, ref_c[idx], ref_r[idx], beta=beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()
