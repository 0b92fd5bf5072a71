"""`alignment`, a whole file written from scratch by a student in their own style.

What differs from the stub's layout: ``import models as M`` only for the annotations (postponed,
``from __future__ import annotations``), ``__all__``, a ``logging`` logger and a ``print`` at
import, ``warnings.filterwarnings`` at module level, the roles as a ``str`` Enum, the chat
template assembled from two halves, ``io.StringIO`` for the text; build_sft_example through a
generator of (ids, counted) pieces; collate by ``torch.stack`` of ``torch.cat``-padded rows;
sequence_logprob through ``torch.distributions.Categorical(logits=...).log_prob``;
reward_model_loss as ``softplus(-z)``; dpo_loss calling reward_model_loss; group_advantages
taking the std of every group (NaN for groups of one, a warning silenced at import) and
replacing what is not finite by 0 with ``torch.where``; ppo_clip_loss returning a fresh
``zeros(())`` (no graph) when nothing is masked in, else the boolean-indexed mean;
dpo_train with a ``*args, **kwargs`` signature bound to a frozen dataclass of its
hyper-parameters, the reference's log-probabilities from a ``@torch.no_grad()`` helper, a debug
``print`` per epoch, two forwards per step, Adam, and an ``if __name__ == "__main__":`` self-test.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import io
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    import models as M

__all__ = [
    "BATCH_SIZE",
    "CHAT_TEMPLATE",
    "GENERATION_PROMPT",
    "IGNORE_INDEX",
    "ROLES",
    "build_sft_example",
    "collate",
    "dpo_loss",
    "dpo_train",
    "format_chat",
    "group_advantages",
    "ppo_clip_loss",
    "reward_model_loss",
    "sequence_logprob",
]

log = logging.getLogger(__name__)
warnings.filterwarnings("ignore", message=r".*degrees of freedom is <= 0.*")
print("[alignment] student module loaded")

IGNORE_INDEX: int = -100
BATCH_SIZE: int = 32


class Role(str, enum.Enum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


ROLES: tuple[str, ...] = tuple(r.value for r in Role)
_HEADER = "<|{role}|>\n"
CHAT_TEMPLATE: str = _HEADER + "{content}<|end|>\n"
GENERATION_PROMPT: str = _HEADER.format(role=Role.ASSISTANT.value)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _role(message: dict[str, Any]) -> Role:
    try:
        return Role(message["role"])
    except ValueError:
        raise ValueError(f"unknown role {message['role']!r}; allowed: {', '.join(ROLES)}") from None


def format_chat(messages: Sequence[dict[str, Any]], add_generation_prompt: bool = False) -> str:
    buf = io.StringIO()
    for m in messages:
        buf.write(CHAT_TEMPLATE.format(role=_role(m).value, content=m["content"]))
    if add_generation_prompt:
        buf.write(GENERATION_PROMPT)
    return buf.getvalue()


def _pieces(messages: Sequence[dict[str, Any]], encode: Callable[[str], list[int]]) -> Iterator[tuple[list[int], bool]]:
    for m in messages:
        role = _role(m)
        yield list(encode(_HEADER.format(role=role.value))), False
        yield list(encode(m["content"] + "<|end|>")), role is Role.ASSISTANT
        yield list(encode("\n")), False


def build_sft_example(
    messages: Sequence[dict[str, Any]], encode: Callable[[str], list[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    ids: list[int] = []
    labels: list[int] = []
    for piece, counted in _pieces(messages, encode):
        ids.extend(piece)
        labels.extend(piece if counted else [IGNORE_INDEX] * len(piece))
    return torch.as_tensor(ids, dtype=torch.long), torch.as_tensor(labels, dtype=torch.long)


def _pad_to(x: torch.Tensor, length: int, value: int | bool) -> torch.Tensor:
    return torch.cat([x, x.new_full((length - x.numel(),), value)])


def collate(examples: Sequence[tuple[torch.Tensor, torch.Tensor]], pad_id: int) -> Batch:
    width = max(int(i.numel()) for i, _ in examples)
    ids = torch.stack([_pad_to(i.long(), width, pad_id) for i, _ in examples])
    labels = torch.stack([_pad_to(lab.long(), width, IGNORE_INDEX) for _, lab in examples])
    mask = torch.stack([_pad_to(torch.ones(i.numel(), dtype=torch.bool), width, False) for i, _ in examples])
    return ids, labels, mask


def sequence_logprob(logits: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    dist = torch.distributions.Categorical(logits=logits[:, :-1], validate_args=False)
    token_logp = dist.log_prob(ids[:, 1:])                                # (B, L-1)
    keep = (labels[:, 1:] != IGNORE_INDEX).to(token_logp.dtype)
    return (token_logp * keep).sum(dim=1)


def reward_model_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None
) -> torch.Tensor:
    z = chosen - rejected - (0 if margin is None else margin)
    return F.softplus(-z).mean()


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    chosen_rewards = beta * (policy_chosen - ref_chosen)
    rejected_rewards = beta * (policy_rejected - ref_rejected)
    loss = reward_model_loss(chosen_rewards, rejected_rewards)
    return loss, chosen_rewards.detach(), rejected_rewards.detach()


def group_advantages(
    rewards: torch.Tensor, group_size: int, normalize_std: bool = True, eps: float = 1e-4
) -> torch.Tensor:
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if rewards.numel() % group_size:
        raise ValueError(f"cannot split {rewards.numel()} rewards into groups of {group_size}")
    g = rewards.view(-1, group_size)
    centred = g - g.mean(dim=1, keepdim=True)
    if not normalize_std:
        return centred.flatten()
    std = g.std(dim=1, keepdim=True)                                       # NaN for groups of one
    scaled = centred / (std + eps)
    return torch.where(torch.isfinite(scaled), scaled, torch.zeros_like(scaled)).flatten()


def ppo_clip_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
) -> torch.Tensor:
    if not bool(mask.any()):
        return torch.zeros((), dtype=logp.dtype, device=logp.device)
    ratio = (logp - old_logp).exp()
    adv = advantages.unsqueeze(-1).expand_as(ratio)
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv)
    return -surrogate[mask].mean()


@dataclasses.dataclass(frozen=True)
class DPOConfig:
    beta: float = 0.1
    epochs: int = 2
    lr: float = 3e-3
    seed: int = 0


@torch.no_grad()
def _frozen_logprobs(model: M.MiniGPT, batch: Batch) -> torch.Tensor:
    ids, labels, _ = batch
    return sequence_logprob(model(ids), ids, labels)


def dpo_train(policy: M.MiniGPT, reference: M.MiniGPT, chosen: Batch, rejected: Batch, *args: Any,
              **kwargs: Any) -> M.MiniGPT:
    """DPO on a copy of ``policy``; ``*args`` / ``**kwargs`` are beta, epochs, lr, seed (DPOConfig)."""
    cfg = DPOConfig(*args, **kwargs)
    ref_c, ref_r = _frozen_logprobs(reference, chosen), _frozen_logprobs(reference, rejected)
    (c_ids, c_lab, _), (r_ids, r_lab, _) = chosen, rejected
    n = c_ids.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = copy.deepcopy(policy)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        order = torch.Generator().manual_seed(cfg.seed)
        for epoch in range(cfg.epochs):
            total = 0.0
            for idx in torch.randperm(n, generator=order).split(BATCH_SIZE):
                pc = sequence_logprob(model(c_ids[idx]), c_ids[idx], c_lab[idx])
                pr = sequence_logprob(model(r_ids[idx]), r_ids[idx], r_lab[idx])
                loss, _, _ = dpo_loss(pc, pr, ref_c[idx], ref_r[idx], cfg.beta)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss) * len(idx)
            print(f"[dpo_train] epoch {epoch}: mean loss {total / n:.4f}")
            log.debug("epoch %d loss %.4f", epoch, total / n)
    return model.eval()


if __name__ == "__main__":
    chat = [{"role": "user", "content": "ab"}, {"role": "assistant", "content": "ba"}]
    print(format_chat(chat, add_generation_prompt=True))
    chars = {c: i for i, c in enumerate("ab\n")}
    ids, labels = build_sft_example(chat, lambda s: [chars.get(c, 3) for c in s])
    print(ids.tolist(), labels.tolist())
    print(group_advantages(torch.tensor([1.0, 0.0, 2.0, 2.0]), 2), group_advantages(torch.ones(3), 1))
