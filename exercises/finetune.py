"""Fine-tuning a pretrained MiniBERT on a budget / 在有限的硬件资源上微调预训练的 MiniBERT.

Pre-training (mask filling) taught the model what words go together, from text nobody
labelled. A downstream task, say classifying sentences, needs only a little labelled data
(x, y) on top of that:

1. replace the LM head by a classification head: hidden states [B, L, D] -> [B, num_labels];
2. add LoRA to the attention projections q_proj, k_proj, v_proj, o_proj and freeze
   everything that was pretrained: W' = W + (alpha / r) · B · A, only A, B train;
3. train the LoRA and head parameters with cross-entropy on the labelled examples.

The pretrained weights are never touched, so one base model can serve many tasks, each
with its own small LoRA + head.

预训练（填词）让模型从无标注文本中学到了词与词之间的关系；下游任务只需少量标注数据 (x, y)：
把 LM Head 换成 Classification Head，给注意力的投影层加上 LoRA，冻结预训练的权重，
只训练 LoRA 与分类头的参数。

Lecture: "🤗如何使用语言模型完成具体下游任务？" (例：分类任务) and
"🤗如何使用有限的硬件资源进行微调？" (LoRA).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from heads import ClassificationHead
from lora import apply_lora
from models import MiniBERT
from torch import nn

ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
BATCH_SIZE = 32


class SequenceClassifier(nn.Module):
    """A MiniBERT encoder with a classification head / 编码器 + 分类头.

    Submodules: ``encoder`` (a MiniBERT; only its ``encode`` is used, the LM head is not) and
    ``head`` (a ClassificationHead). forward(ids: Long[B, L], attention_mask: Bool[B, L] |
    None = None) -> logits [B, num_labels] = head(encoder.encode(ids, mask), mask).
    """

    def __init__(self, encoder: MiniBERT, head: ClassificationHead):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(
        self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        # TODO: the head on top of the encoder's hidden states; pass the mask to both.
        raise NotImplementedError("SequenceClassifier.forward")


def finetune_classifier(
    model: MiniBERT,
    train_ids: torch.Tensor,
    train_mask: torch.Tensor | None,
    train_labels: torch.Tensor,
    num_labels: int,
    r: int = 4,
    alpha: float = 8.0,
    epochs: int = 4,
    lr: float = 1e-2,
    seed: int = 0,
) -> nn.Module:
    """LoRA fine-tuning of a pretrained MiniBERT for classification / 用 LoRA 微调分类器.

    Steps: copy ``model`` (copy.deepcopy: the caller's model must stay unchanged); apply_lora
    to the copy's ``q_proj``, ``k_proj``, ``v_proj``, ``o_proj`` with (r, alpha), which
    freezes every pretrained weight; put a ``ClassificationHead(D, num_labels)`` on
    ``encode``'s hidden states (the pooling is yours to choose); train only the parameters
    that require grad (LoRA A, B and the head) with AdamW and cross-entropy, in mini-batches.

    Args:
        model: a pretrained MiniBERT (D = model.tok_emb.embedding_dim). Not modified.
        train_ids: Long[N, L], each row starting with [CLS], right-padded.
        train_mask: Bool[N, L], True at real tokens (None: all real).
        train_labels: Long[N], values in [0, num_labels).
        num_labels: the number of classes (>= 2).
        r, alpha: the LoRA rank and scale (update = alpha / r · B · A).
        epochs, lr: the defaults must train well within the grader's time budget.
        seed: everything random (head and LoRA initialisation, batch order) follows from it:
            the same arguments give the same classifier (tip: torch.random.fork_rng and
            torch.manual_seed(seed) inside it also leave the caller's random state alone).
    Returns:
        an nn.Module (here a SequenceClassifier with ``encoder`` and ``head``) mapping
        (ids Long[B, L], attention_mask Bool[B, L]) to logits [B, num_labels], in eval mode.
        Its pretrained weights equal ``model``'s (LoRA left unmerged), and its trainable
        parameters are exactly the LoRA and head parameters, all of which train (the LoRA
        B matrices start at 0 and must have moved).
    Judged by accuracy on held-out sentences of a small task (a pretrained MiniBERT and 256
    labelled sentences, 4 classes; official grading scores on sentences drawn afresh from
    the same language, not the shipped ones), by ``model`` and the pretrained weights being
    unchanged, by the same seed giving the same classifier, and by a time budget that the
    grader states (the reference takes a few seconds on one CPU core).

    先 deepcopy，再对注意力的四个投影加 LoRA（其余参数全部冻结），接上分类头，
    只训练 LoRA 和分类头。同样的 seed 必须得到同样的分类器。
    """
    # TODO: copy the model; apply_lora to the attention projections; build the head and the
    #       classifier; seed everything; loop over epochs and shuffled mini-batches:
    #       logits -> F.cross_entropy -> backward -> AdamW step on the trainable parameters.
    raise NotImplementedError("finetune_classifier")
