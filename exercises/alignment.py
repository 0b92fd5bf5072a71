"""Instruction tuning and learning from preferences / 指令微调与从偏好中学习.

A pretrained model continues text; an assistant answers. Two steps get from one to the other:

1. Instruction tuning (SFT): write conversations in a chat format and train next-token
   prediction only on what the assistant says (the labels are -100 everywhere else).
2. Learning from preferences: people compare two answers to the same prompt, "chosen"
   better than "rejected", and the model learns to rank them that way:
   - a reward model r(x, y) learns the ranking:  loss = -log σ(r(chosen) - r(rejected));
   - DPO skips the reward model: the policy π's own log-probabilities, measured against a
     frozen reference π_ref, are the reward:  r = β · (log π(y|x) - log π_ref(y|x));
   - GRPO / PPO sample several answers per prompt, score them, and push up the ones that
     beat their group's average, with a clipped probability ratio so one step cannot move
     the policy too far.

预训练的模型只会续写文本；指令微调用对话格式的数据只在助手的回答上计算损失；
强化学习（从人类偏好中学习）让模型学会把"更好的回答"排在前面：奖励模型学习排序，
DPO 直接用策略相对参考模型的对数概率作为奖励，GRPO/PPO 对同一个问题采样多个回答，
高于组内平均的回答被加强，并用裁剪的概率比限制每一步的更新幅度。

Lecture: "🤗如何让语言模型更好的理解人类意图？" (指令微调：使用人工标注的 (prompt, response)
对模型进行微调；强化学习).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from models import MiniGPT

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
CHAT_TEMPLATE = "<|{role}|>\n{content}<|end|>\n"
GENERATION_PROMPT = "<|assistant|>\n"
BATCH_SIZE = 32

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def format_chat(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """A conversation as one string, in the course's chat format / 把对话写成一个字符串.

    Each turn is ``CHAT_TEMPLATE.format(role=..., content=...)``, i.e.

        <|user|>\\n什么是词向量？<|end|>\\n<|assistant|>\\n用向量表示词。<|end|>\\n

    Args:
        messages: a list of ``{"role": r, "content": text}`` with r one of ``ROLES``
            ("system", "user", "assistant"); any other role raises ValueError. The list is
            not modified.
        add_generation_prompt: append ``"<|assistant|>\\n"`` (``GENERATION_PROMPT``), the
            start of the turn the model should now write.
    Returns:
        the formatted string ("" for no messages, or just the generation prompt).

    每一轮对话是 CHAT_TEMPLATE.format(role=..., content=...)；未知的角色抛出 ValueError；
    add_generation_prompt=True 时在末尾加上 "<|assistant|>\\n"，让模型接着写助手的回答。

    Lecture: "🤗如何让语言模型更好的理解人类意图？" (指令微调).
    """
    # TODO: check every role, format every turn with CHAT_TEMPLATE and join them; add the
    #       generation prompt when asked.
    raise NotImplementedError("format_chat")


def build_sft_example(
    messages: list[dict], encode: Callable[[str], list[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """One conversation as (ids, labels) for instruction tuning / 一条对话 → (ids, labels).

    Every turn is encoded by THREE separate calls, in this order:

        encode("<|" + role + "|>\\n")      the header       labels -100
        encode(content + "<|end|>")        the body         labels = ids when role is "assistant",
                                                            -100 otherwise
        encode("\\n")                       the separator    labels -100

    ``ids`` is the concatenation of all the calls; so the model learns to write the
    assistant's words and to END its turn with ``<|end|>``, and never learns to write the
    user's or system's turns or the headers. Encoding the pieces separately keeps a token
    from straddling a boundary; with a character-level encoder (markers as single tokens)
    ids equal ``encode(format_chat(messages))``.

    Args:
        messages: as for ``format_chat`` (an unknown role raises ValueError).
        encode: a callable text -> list of token ids (e.g. a tokenizer's encode).
    Returns:
        (ids Long[L], labels Long[L]), two new 1-D tensors of the same length.

    例如 user "ab"，assistant "ba"：ids 是 "<|user|>\\n" "ab<|end|>" "\\n" "<|assistant|>\\n"
    "ba<|end|>" "\\n" 的编码拼接；labels 只在 "ba<|end|>" 上等于 ids，其余都是 -100。
    每一轮调用三次 encode，不要对整段文字只调用一次。

    Lecture: "🤗如何让语言模型更好的理解人类意图？" (指令微调：只在回答上计算损失).
    """
    # TODO: for each turn, three encode calls (header, content + "<|end|>", "\\n"); collect
    #       ids and labels (ids only in the middle piece of assistant turns); torch.long.
    raise NotImplementedError("build_sft_example")


def collate(
    examples: list[tuple[torch.Tensor, torch.Tensor]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad examples of different lengths into one batch / 把长短不一的样本补齐成一个 batch.

    Right padding to the longest example: example b fills row b from position 0; the rest
    of the row is ``pad_id`` in ids, -100 in labels and False in attention_mask. (A causal
    model never looks right, so right padding changes nothing at the real tokens.)

    Args:
        examples: B >= 1 pairs (ids Long[L_b], labels Long[L_b]) as from ``build_sft_example``.
        pad_id: the id written into the padding positions of ids.
    Returns:
        (ids Long[B, L], labels Long[B, L], attention_mask Bool[B, L]), L = max L_b;
        attention_mask is True at real tokens.

    向右补齐到最长的样本：ids 补 pad_id，labels 补 -100，attention_mask 在真实的词上为 True。
    """
    # TODO: allocate [B, L] tensors filled with pad_id / -100 / False, then copy each example
    #       into the start of its row.
    raise NotImplementedError("collate")


def sequence_logprob(logits: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log π(response | prompt): the log-probability of the counted tokens / 回答的对数概率.

        out[b] = Σ_{t : labels[b, t+1] != -100}  log softmax(logits[b, t])[ids[b, t+1]]

    The logits at position t predict the token at t+1 (as in ``next_token_loss``), so
    labels[:, 0] never counts. A SUM, not a mean: it is the log-probability of the whole
    response, log Π P(token | everything before it).

    Args:
        logits: [B, L, V], e.g. MiniGPT(ids).
        ids: Long[B, L], the tokens the logits were computed from.
        labels: Long[B, L], -100 where a token does not count (prompt, padding), else
            equal to ids (as built by ``build_sft_example`` and ``collate``).
    Returns:
        [B] in the dtype of logits, differentiable with respect to logits; 0.0 for a row
        with nothing counted.

    位置 t 的 logits 预测第 t+1 个词；对 labels 不是 -100 的词的 log 概率求和（不是平均），
    就是整个回答的对数概率 log π(y|x)。
    """
    # TODO: log_softmax of logits[:, :-1]; pick the log-probability of ids[:, 1:] with
    #       gather; sum where labels[:, 1:] != -100.
    raise NotImplementedError("sequence_logprob")


def reward_model_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | None = None
) -> torch.Tensor:
    """The reward model's ranking loss (Bradley-Terry) / 奖励模型的排序损失.

        loss = mean_b  -log σ(chosen[b] - rejected[b] - margin[b])

    P(chosen is better) = σ(r_chosen - r_rejected); the loss is its negative log-likelihood.
    An optional margin asks the chosen reward to win by at least that much.

    Args:
        chosen, rejected: [B], the rewards of the better and the worse answer to the same
            prompt.
        margin: optional [B] (None means 0).
    Returns:
        a scalar in the inputs' dtype, finite even for differences of ±1000 (where σ rounds
        to 0 or 1): -log σ(x) = softplus(-x) = log(1 + e^{-x}) computed without overflow.

    σ(x) 在 |x| 很大时会舍入成 0 或 1，log σ(x) 就成了 -inf；用 F.logsigmoid（或 softplus）
    可以稳定地计算。
    """
    # TODO: the difference (minus the margin when given), then a stable -log σ, then mean.
    raise NotImplementedError("reward_model_loss")


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Direct Preference Optimization / 直接偏好优化 (DPO, sigmoid loss).

        chosen_rewards   = β · (policy_chosen   - ref_chosen)      the implicit reward
        rejected_rewards = β · (policy_rejected - ref_rejected)
        loss = mean_b  -log σ(chosen_rewards[b] - rejected_rewards[b])

    The reward model's loss with the policy's own log-probabilities, relative to a frozen
    reference, as the reward: the policy learns to raise the chosen answer and lower the
    rejected one compared with where it started, and β says how far it may drift.

    Args:
        policy_chosen, policy_rejected: [B] sequence log-probabilities (``sequence_logprob``)
            of the chosen / rejected answers under the policy being trained.
        ref_chosen, ref_rejected: [B] the same under the reference model.
        beta: β > 0.
    Returns:
        (loss scalar, chosen_rewards [B], rejected_rewards [B]); the loss keeps the graph
        (gradients flow into the policy log-probabilities); the two rewards are DETACHED
        (for logging and accuracy: ``chosen_rewards > rejected_rewards``), so they never
        carry gradients. Stable for large differences, like ``reward_model_loss``.

    DPO 不训练奖励模型：策略相对参考模型的对数概率之差乘以 β 就是"隐式奖励"。
    返回的两个奖励要 detach（只用于记录与计算准确率），损失本身保留计算图。
    """
    # TODO: the two implicit rewards (keep the graph for the loss), the reward-model loss
    #       on their difference, then detach the rewards you return.
    raise NotImplementedError("dpo_loss")


def group_advantages(
    rewards: torch.Tensor, group_size: int, normalize_std: bool = True, eps: float = 1e-4
) -> torch.Tensor:
    """GRPO's advantages: how much better than its group each answer is / 组内相对优势.

    The rewards come in consecutive groups of ``group_size`` answers to the same prompt:
    rewards[0:G] is group 0, rewards[G:2G] group 1, ... For answer i in group g:

        A_i = r_i - mean(group g)                      (normalize_std=False)
        A_i = (r_i - mean(group g)) / (std(group g) + eps)   (normalize_std=True)

    with the UNBIASED std (divide by G - 1, torch's default). A group of one answer has
    nothing to compare with: its advantage is 0 (not NaN). A group whose rewards are all
    equal gets 0 too.

    Args:
        rewards: [N] float; N % group_size != 0 (or group_size < 1) raises ValueError.
        group_size: G.
        normalize_std: divide by the group's std + eps.
        eps: keeps the division finite.
    Returns:
        [N] in the dtype of rewards; rewards is not modified.

    GRPO 对同一个问题采样 G 个回答；每个回答的优势是它的奖励减去组内平均（再除以组内的
    无偏标准差 + eps）。只有一个回答的组优势为 0。
    """
    # TODO: check the sizes; view as [N // G, G]; subtract the group mean; divide by the
    #       group std + eps when asked (not for groups of one); back to [N].
    raise NotImplementedError("group_advantages")


def ppo_clip_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
) -> torch.Tensor:
    """PPO's clipped surrogate loss, as in GRPO / PPO 的裁剪目标（GRPO 使用）.

        r = exp(logp - old_logp)                          the probability ratio per token
        term = min(r · A, clip(r, 1 - ε, 1 + ε) · A)      A = advantages[b] for every token of b
        loss = - (Σ over masked-in tokens of term) / (number of masked-in tokens)

    The mean is POOLED over all masked-in tokens of the batch (trl's token-level loss), not
    per sequence. The clip removes the incentive to move r beyond [1 - ε, 1 + ε]: a good
    answer (A > 0) gains nothing from r > 1 + ε, a bad one (A < 0) nothing from r < 1 - ε.

    Args:
        logp: [B, L] per-token log-probabilities under the current policy.
        old_logp: [B, L] the same under the policy that sampled the answers.
        advantages: [B], one per sequence (e.g. from ``group_advantages``).
        mask: Bool[B, L], True at the answer tokens that count.
        clip_eps: ε.
    Returns:
        a scalar in the dtype of logp; exactly 0.0 when no token is masked in.

    r 是新旧策略的概率比；A > 0 时 r 超过 1+ε 不再有好处，A < 0 时 r 低于 1-ε 不再有好处。
    对整个 batch 中所有被选中的词求平均（不是先按序列平均）；没有词被选中时返回 0.0。
    """
    # TODO: the ratio, the two surrogate terms and their minimum; the advantages broadcast
    #       over L; sum over masked-in tokens / their count (at least 1); minus sign.
    raise NotImplementedError("ppo_clip_loss")


def dpo_train(
    policy: MiniGPT,
    reference: MiniGPT,
    chosen: Batch,
    rejected: Batch,
    beta: float = 0.1,
    epochs: int = 2,
    lr: float = 3e-3,
    seed: int = 0,
) -> MiniGPT:
    """Train a copy of ``policy`` with DPO on preference pairs / 用 DPO 训练策略.

    chosen[i] and rejected[i] are two answers to the same prompt, chosen preferred. Steps:
    copy the policy (copy.deepcopy: the caller's model stays unchanged); compute the
    reference's sequence log-probabilities under ``torch.no_grad()`` (once is enough: it
    never changes); then for ``epochs`` passes over shuffled mini-batches (``BATCH_SIZE``
    pairs): the policy's sequence log-probabilities of both answers, ``dpo_loss``,
    zero_grad, backward, step (AdamW, learning rate ``lr``).

    Args:
        policy: a MiniGPT (e.g. after instruction tuning); not modified.
        reference: the frozen reference, usually the same weights as policy; read only:
            neither its values nor its parameters' ``requires_grad`` flags may change, and
            none of its parameters gets a ``.grad``.
        chosen, rejected: batches as returned by ``collate``: (ids Long[N, L], labels
            Long[N, L], attention_mask Bool[N, L]); row i of both is one pair (their
            lengths L may differ).
        beta: DPO's β. epochs, lr: as above.
        seed: the pairs are shuffled every epoch in an order drawn from ``seed`` (and anything
            else random is seeded from it too): the same seed gives the same model, another
            seed another one; torch's global random state is left as it was.
    Returns:
        the trained copy, in eval mode. Judged by held-out preference accuracy: the
        fraction of unseen pairs whose implicit reward β·(log π - log π_ref) ranks chosen
        above rejected.

    在策略的副本上训练；参考模型只在 torch.no_grad() 下读取，它的参数值和 requires_grad
    都不能改变。每个 batch：策略对两个回答的 sequence_logprob，dpo_loss，反向传播，更新。
    """
    # TODO: deepcopy the policy; the reference log-probabilities under torch.no_grad();
    #       AdamW on the copy; shuffled mini-batches (a torch.Generator seeded with seed);
    #       dpo_loss on sequence_logprob of both answers; return the copy in eval mode.
    raise NotImplementedError("dpo_train")
