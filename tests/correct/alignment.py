"""`alignment` written another way: the chat format built with f-strings and a list of pieces;
SFT examples from a list of (ids, counted) segments concatenated as tensors; collate with
``pad_sequence``; sequence log-probabilities as the picked logit minus logsumexp, in float64,
picked with a one-hot einsum; the stable losses as ``logaddexp(0, -z)`` from a helper module;
DPO written like trl (policy log-ratio minus reference log-ratio); group advantages with an
explicit loop over the groups in float64 and a hand-written unbiased std; the PPO clip as
``A·min(r, 1+ε)`` / ``A·max(r, 1-ε)`` by the sign of A and a boolean-indexed sum over a
Python count; dpo_train with its own loop: Python's ``random.Random(seed)`` for the order, batches of 16, two separate
forwards (chosen, rejected), the reference's log-probabilities recomputed per batch under
``torch.no_grad()``, plain Adam with a different learning rate, gradient clipping."""


import copy
import random

import torch
import torch.nn.functional as F
from helpers_alignment import masked_sum, neg_log_sigmoid

_ROLES = {"system", "user", "assistant"}


def _check_role(message: dict) -> str:
    role = message["role"]
    if role not in _ROLES:
        raise ValueError(f"role must be one of {sorted(_ROLES)}, not {role!r}")
    return role


def format_chat(messages, add_generation_prompt=False):
    pieces = []
    for message in messages:
        role = _check_role(message)
        pieces.append(f"<|{role}|>\n" + message["content"] + "<|end|>\n")
    if add_generation_prompt:
        pieces.append("<|assistant|>\n")
    return "".join(pieces)


def build_sft_example(messages, encode):
    segments: list[tuple[list[int], bool]] = []
    for message in messages:
        role = _check_role(message)
        segments.append((list(encode("<|" + role + "|>\n")), False))
        segments.append((list(encode(message["content"] + "<|end|>")), role == "assistant"))
        segments.append((list(encode("\n")), False))
    if not segments:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty.clone()
    ids = torch.cat([torch.tensor(s, dtype=torch.long).reshape(-1) for s, _ in segments])
    counted = torch.cat([torch.full((len(s),), keep, dtype=torch.bool) for s, keep in segments])
    return ids, ids.masked_fill(~counted, -100)


def collate(examples, pad_id):
    ids = [torch.as_tensor(i, dtype=torch.long) for i, _ in examples]
    labels = [torch.as_tensor(lab, dtype=torch.long) for _, lab in examples]
    lengths = torch.tensor([len(i) for i in ids])
    batch_ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=pad_id)
    batch_labels = torch.nn.utils.rnn.pad_sequence(labels, batch_first=True, padding_value=-100)
    mask = torch.arange(batch_ids.shape[1])[None, :] < lengths[:, None]
    return batch_ids, batch_labels, mask


def sequence_logprob(logits, ids, labels):
    x = logits[:, :-1].to(torch.float64)                                 # (B, L-1, V)
    onehot = F.one_hot(ids[:, 1:], x.shape[-1]).to(torch.float64)
    picked = torch.einsum("blv,blv->bl", x, onehot)
    token_logp = picked - torch.logsumexp(x, dim=-1)                     # (B, L-1)
    return masked_sum(token_logp, labels[:, 1:] != -100, "bl").to(logits.dtype)


def reward_model_loss(chosen, rejected, margin=None):
    z = chosen - rejected if margin is None else chosen - (rejected + margin)
    return neg_log_sigmoid(z).mean()


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=0.1):
    pi_logratios = policy_chosen - policy_rejected
    ref_logratios = ref_chosen - ref_rejected
    loss = neg_log_sigmoid(beta * (pi_logratios - ref_logratios)).mean()
    with torch.no_grad():
        chosen_rewards = beta * (policy_chosen - ref_chosen)
        rejected_rewards = beta * (policy_rejected - ref_rejected)
    return loss, chosen_rewards, rejected_rewards


def group_advantages(rewards, group_size, normalize_std=True, eps=1e-4):
    n = len(rewards)
    if group_size <= 0 or n % group_size:
        raise ValueError(f"group_size must be a positive divisor of the number of rewards ({n}), got {group_size}")
    r = rewards.to(torch.float64)
    out = []
    for start in range(0, n, group_size):
        group = r[start:start + group_size]
        centred = group - group.sum() / group_size
        if normalize_std and group_size > 1:
            std = torch.sqrt((centred ** 2).sum() / (group_size - 1))
            centred = centred / (std + eps)
        out.append(centred)
    return torch.cat(out).to(rewards.dtype) if out else rewards.clone()


def ppo_clip_loss(logp, old_logp, advantages, mask, clip_eps=0.2):
    ratio = (logp - old_logp).exp()
    adv = advantages.unsqueeze(-1).expand_as(ratio)
    # min(r·A, clip(r)·A) is A·min(r, 1+ε) for A >= 0 and A·max(r, 1-ε) for A < 0
    surrogate = torch.where(adv >= 0, adv * ratio.clamp(max=1 + clip_eps), adv * ratio.clamp(min=1 - clip_eps))
    picked = surrogate[mask]
    return -picked.sum() / max(picked.numel(), 1)  # an empty sum: 0.0, still part of the graph


def dpo_train(policy, reference, chosen, rejected, beta=0.1, epochs=3, lr=2e-3, seed=0):
    c_ids, c_labels = chosen[0], chosen[1]
    r_ids, r_labels = rejected[0], rejected[1]
    model = copy.deepcopy(policy)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    shuffler = random.Random(seed)
    order = list(range(len(c_ids)))
    for _ in range(epochs):
        shuffler.shuffle(order)
        for start in range(0, len(order), 16):
            idx = torch.tensor(order[start:start + 16])
            with torch.no_grad():
                ref_c = sequence_logprob(reference(c_ids[idx]), c_ids[idx], c_labels[idx])
                ref_r = sequence_logprob(reference(r_ids[idx]), r_ids[idx], r_labels[idx])
            pol_c = sequence_logprob(model(c_ids[idx]), c_ids[idx], c_labels[idx])
            pol_r = sequence_logprob(model(r_ids[idx]), r_ids[idx], r_labels[idx])
            loss = dpo_loss(pol_c, pol_r, ref_c, ref_r, beta)[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    model.eval()
    return model
