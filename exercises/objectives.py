"""Pre-training and fine-tuning losses / 预训练与微调的损失函数.

Language models learn from plain text, with no human labels: the text is its own answer key.

- Mask filling (BERT): hide some words and predict them from both sides,
  "我是[MASK]，[MASK]考试没有一次[MASK]。"  →  max P(大学生|context)·P(幼儿园|context)·P(参加|context)
- Next-token prediction (GPT): predict every word from the words before it,
  "我是大学生，"  →  max ∏ P(next token | prefix) = P(大学生|我是) · P(，|我是大学生)
- Instruction fine-tuning (SFT): next-token prediction on (prompt, response) pairs, counting
  only the response: the model should learn to answer, not to write prompts.

Every loss here is a cross-entropy -log P(target) averaged over the targets that count (per
token, not per sequence), and is exactly 0.0 (not NaN) when no target counts. A target that
does not count carries the label -100, as in PyTorch's ``ignore_index`` and 🤗 transformers.

语言模型用无标注文本自己监督自己：BERT 把词遮住再猜出来，GPT 根据前缀预测下一个词，
指令微调只在回答部分计算损失。所有损失都是"被计数的目标"上的平均交叉熵（按词平均，
不是按句子平均），没有任何目标时恰好为 0.0（不是 NaN）。不计数的位置标签为 -100。

Lecture: "🤗如何训练语言模型？", "🤗预训练" (Mask filling or Next token prediction?),
"🤗如何让语言模型更好的理解人类意图？" (指令微调).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def mask_tokens(
    ids: torch.Tensor,
    mask_token_id: int,
    vocab_size: int,
    mlm_probability: float = 0.15,
    special_tokens_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: make a mask-filling exercise out of plain text / BERT 的随机遮盖.

    1. Each position that is not special is SELECTED independently with probability
       ``mlm_probability`` (special positions, e.g. [CLS], [SEP], padding, never are).
    2. labels = the original id at selected positions, -100 everywhere else.
    3. A selected position's input becomes ``mask_token_id`` with probability 0.8, a uniformly
       random id in [0, vocab_size) with probability 0.1 (it may happen to be the original
       id), and keeps its original id with probability 0.1. Unselected inputs are unchanged.
    (The same scheme as 🤗 ``DataCollatorForLanguageModeling``.) The random and kept 10% make
    the model produce a good vector for EVERY position, not only at [MASK].

    Args:
        ids: Long[B, L] (any shape works), the original token ids; NOT modified.
        mask_token_id: the id of [MASK].
        vocab_size: V; random replacements are drawn from [0, V).
        mlm_probability: the selection probability, in [0, 1] (outside raises ValueError).
        special_tokens_mask: optional Bool, same shape as ids; True = never select.
        generator: the torch.Generator for ALL random draws (None: torch's global one). The
            same generator state gives the same (inputs, labels).
    Returns:
        (inputs, labels): two new Long tensors shaped like ids.

    Judged statistically (selection rate, the 80/10/10 split, specials never selected), so
    how you draw is up to you (torch.rand, torch.bernoulli, ...), as long as every draw uses
    ``generator``.

    例如 "北京在北纬40度" → inputs "北京在北纬[MASK]度"，labels 只在被选中的位置保存原词 "40"。
    每个非特殊位置以 mlm_probability 的概率被选中；被选中的位置 80% 换成 [MASK]，10% 换成随机词，
    10% 保持不变。不要原地修改 ids；所有随机数都用 generator 生成。

    Lecture: "🤗预训练" (Mask filling: 我是[MASK]，[MASK]考试没有一次[MASK]。).
    """
    # TODO: draw uniform numbers with torch.rand(..., generator=generator) to decide who is
    #       selected, then (a second draw) mask / random / keep; build new tensors, ids stays.
    raise NotImplementedError("mask_tokens")


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mask-filling loss / 填词（MLM）损失.

    loss = mean over positions with labels != -100 of  -log softmax(logits[b, i])[labels[b, i]]

    Args:
        logits: [B, L, V], e.g. MiniBERT's output.
        labels: Long[B, L], the original id at the positions to predict, -100 elsewhere
            (as made by ``mask_tokens``). ``logits.shape[:-1] != labels.shape`` raises
            ValueError.
    Returns:
        a scalar tensor in the dtype of logits: the mean over counted positions (every
        counted token weighs the same, whichever sentence it is in); exactly 0.0, not NaN,
        when no label is counted (a batch where nothing happened to be masked).

    只在标签不是 -100 的位置上求交叉熵的平均；没有任何被遮住的词时返回 0.0 而不是 NaN
    （注意 F.cross_entropy 的默认 "mean" 在这种情况下会得到 NaN）。

    Lecture: "🤗 Encoder" (一次前向传播即可计算出所有[MASK]的概率分布), "🤗预训练".
    """
    # TODO: flatten to [N, V] and [N]; sum the cross-entropy of the counted positions and
    #       divide by how many there are (at least 1).
    raise NotImplementedError("masked_lm_loss")


def next_token_loss(
    logits: torch.Tensor, ids: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Next-token prediction loss / 下一个词预测（语言模型）损失.

    The logits at position t predict the token at t+1, so logits and targets are SHIFTED
    against each other by one:

        loss = mean over t = 0..L-2 with attention_mask[b, t+1] of
               -log softmax(logits[b, t])[ids[b, t+1]]

    The last position has no target, and the first token is never a target.

    Args:
        logits: [B, L, V], e.g. MiniGPT(ids). ``logits.shape[:-1] != ids.shape`` raises
            ValueError.
        ids: Long[B, L], the same ids the logits were computed from.
        attention_mask: optional Bool[B, L], True at real tokens. A target counts only when
            it is a real token (padding is never predicted); None means all are real.
    Returns:
        a scalar: the mean over counted targets; exactly 0.0 when none counts (L == 1, or
        no real token after position 0).

    "我是大学生，": P(大学生|我是) · P(，|我是大学生)。位置 t 的 logits 预测第 t+1 个词：
    logits 去掉最后一个位置，目标去掉第一个词；padding 不作为目标。

    Lecture: "🤗预训练" (Next token prediction), "🤗 Decoder" (自回归生成).
    """
    # TODO: shift (logits[:, :-1] against ids[:, 1:]), put -100 where the target is padding,
    #       and reuse masked_lm_loss.
    raise NotImplementedError("next_token_loss")


def sft_loss(
    logits: torch.Tensor,
    ids: torch.Tensor,
    prompt_lengths: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Instruction fine-tuning (SFT) loss: learn the response, not the prompt / 指令微调损失.

    Each row of ``ids`` is a prompt followed by its response (then padding):
    ids[b, :prompt_lengths[b]] is the prompt, the rest the response. The loss is
    ``next_token_loss`` counted only on targets at positions j >= prompt_lengths[b] that
    are real tokens:

        loss = mean over (b, t) with t+1 >= prompt_lengths[b] and attention_mask[b, t+1] of
               -log softmax(logits[b, t])[ids[b, t+1]]

    So the first response token, predicted from the last prompt position, counts; no
    prompt token is ever a target.

    Args:
        logits: [B, L, V]; ``logits.shape[:-1] != ids.shape`` raises ValueError.
        ids: Long[B, L], prompt + response (+ padding).
        prompt_lengths: Long[B], each in [0, L].
        attention_mask: optional Bool[B, L], True at real tokens.
    Returns:
        a scalar: the mean over all counted response tokens of the batch (per token, not per
        sequence); exactly 0.0 when none counts.

    使用人工标注的 (prompt, response) 微调：只在回答部分（位置 >= prompt 长度）且是真实词的
    目标上计算下一个词预测损失，按词平均。

    Lecture: "🤗如何让语言模型更好的理解人类意图？" (指令微调：使用人工标注的 (prompt, response)).
    """
    # TODO: build a [B, L] mask "this position is a response token and real", then it is
    #       next_token_loss with that mask.
    raise NotImplementedError("sft_loss")
