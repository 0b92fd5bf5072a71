"""Exercise 8: from hidden states to answers / 从隐藏状态到答案.

The layers turn every token into a vector in context. A head turns those vectors into
what the task asks for:

- LM head: one linear layer D -> V giving, at every position, the unnormalised log
  probability (logits) of every word: P_θ(· | context) = softmax(logits). Its weight is
  usually tied to the token embedding (the same [V, D] matrix read both ways).
- Classification head: pool the sequence into one vector (the [CLS] position, or the mean
  of the real tokens) and map it to num_labels logits. Fine-tuning for classification
  replaces the LM head by this one.
- Sampling: generation picks the next token from the LM head's last logits, greedily or
  at random with a temperature and a top-k cut.

LM Head：线性层 D -> V，输出每个位置上各词未归一化的对数概率 logits；通常与词嵌入共享权重。
分类头：把整句池化成一个向量（取 [CLS] 位置，或真实词的平均），再映射到 num_labels 个类别。
采样：生成时根据最后一个位置的 logits 选下一个词（贪心，或带温度与 top-k 的随机采样）。

Lecture: "🤗 Transformer" (LM Head), "例：分类任务" (Classification Head), "🤗 Decoder"
(自回归生成).
"""

from __future__ import annotations

import torch
from attention import softmax
from torch import nn


class LMHead(nn.Module):
    """Language-model head / 语言模型头.

        logits = h Wᵀ     W: [V, D], no bias

    Args (constructor):
        d_model: D; vocab_size: V.
        tied_weight: optional nn.Parameter of shape [V, D] (e.g. the token embedding's
            weight). When given, proj.weight IS this Parameter (the same object, so a
            gradient step on one is a step on the other), not a copy; a wrong shape
            raises ValueError.
    Submodules:
        proj: nn.Linear(D, V, bias=False).
    forward(h: [..., D]) -> logits [..., V].

    一个线性层，输入维度 D，输出维度词表大小 V。给出 tied_weight 时，proj.weight 就是这个
    Parameter 本身（同一个对象，权重共享），不是它的拷贝。

    Lecture: "🤗 Transformer" (LM Head).
    """

    def __init__(self, d_model: int, vocab_size: int, tied_weight: nn.Parameter | None = None):
        super().__init__()
        # TODO: create proj; when tied_weight is given, make proj.weight that very Parameter.
        # BEGIN SOLUTION
        self.proj = nn.Linear(d_model, vocab_size, bias=False)
        if tied_weight is not None:
            if tied_weight.shape != (vocab_size, d_model):
                raise ValueError(
                    f"tied_weight has shape {tuple(tied_weight.shape)}, "
                    f"expected {(vocab_size, d_model)}"
                )
            self.proj.weight = tied_weight
        # END SOLUTION

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Logits for every word at every position / 每个位置上每个词的 logits.

        Args:
            h: [..., D]
        Returns:
            [..., V]
        """
        # TODO: one call to proj.
        # BEGIN SOLUTION
        return self.proj(h)  # (..., V)
        # END SOLUTION


class ClassificationHead(nn.Module):
    """Sequence classification head / 序列分类头.

        pooled = h[:, 0]                                        pooling == "cls"
        pooled = Σ_t m_t h_t / Σ_t m_t   (m = attention_mask)   pooling == "mean"
        logits = proj(pooled)

    Args (constructor):
        d_model: D; num_labels: the number of classes.
        pooling: "cls" (the vector at position 0, where BERT puts [CLS]) or "mean" (the
            mean over real tokens only; padding never counts); anything else raises
            ValueError.
    Submodules:
        proj: nn.Linear(D, num_labels) (with bias).
    forward(h: [B, L, D], attention_mask: Bool[B, L] | None = None) -> [B, num_labels].
        attention_mask is True at real tokens; None means every position is real.
        "cls" pooling ignores attention_mask (position 0 is always real). A row with no
        real token at all is outside the contract (the reference pools it to zeros).

    “cls” 取第 0 个位置（[CLS]）的向量；“mean” 只对真实词（attention_mask 为 True）求平均，
    padding 不计入。然后一个线性层映射到类别数 num_labels。

    Lecture: "例：分类任务" (替换 LM Head 为 Classification Head).
    """

    def __init__(self, d_model: int, num_labels: int, pooling: str = "cls"):
        super().__init__()
        # TODO: validate and keep pooling; create proj.
        # BEGIN SOLUTION
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.proj = nn.Linear(d_model, num_labels)
        # END SOLUTION

    def forward(
        self, h: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pool the sequence, then classify / 先池化，再分类.

        Args:
            h: [B, L, D]  the encoder's hidden states.
            attention_mask: optional Bool[B, L], True at real tokens.
        Returns:
            [B, num_labels] logits.
        """
        # TODO: pool to [B, D] ("cls": position 0; "mean": sum over real tokens divided by
        #       how many there are), then proj.
        # BEGIN SOLUTION
        if self.pooling == "cls":
            pooled = h[:, 0]  # (B, D)
        elif attention_mask is None:
            pooled = h.mean(dim=1)  # (B, D)
        else:
            m = attention_mask.unsqueeze(-1).to(h.dtype)  # (B, L, 1)
            pooled = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)  # (B, D)
        return self.proj(pooled)
        # END SOLUTION


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Choose the next token / 选择下一个词.

        temperature == 0:  argmax(logits)                        (greedy)
        otherwise:         sample from softmax(logits / temperature), where only the
                           top_k largest logits keep a chance (others get probability 0)

    A temperature below 1 sharpens the distribution, above 1 flattens it. top_k larger
    than V means no cut. Draw with torch.multinomial(probs, 1, generator=generator) so
    that a seeded generator makes the draws repeatable.

    Args:
        logits: [B, V]  the LM head's logits at the last position.
        temperature: >= 0; negative raises ValueError.
        top_k: None (no cut) or an int >= 1; top_k < 1 raises ValueError.
        generator: optional torch.Generator passed to torch.multinomial.
    Returns:
        Long[B]: one token id per row.

    温度为 0 时取 argmax（贪心）；否则从 softmax(logits / temperature) 中采样，只保留最大的
    top_k 个 logits。温度小于 1 让分布更尖锐，大于 1 更平坦。

    Lecture: "🤗 Decoder" (自回归生成：每次生成下一个词), "🤗 Transformer" (softmax(logits)).
    """
    # TODO: validate; greedy when temperature is 0; otherwise divide by the temperature,
    #       send every logit below the k-th largest to -inf, softmax, torch.multinomial.
    # BEGIN SOLUTION
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if temperature == 0:
        return logits.argmax(dim=-1)  # (B,)
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)
    # END SOLUTION
