"""Words meet pictures: patch embeddings and CLIP / 文字与图像相遇：图像块嵌入与 CLIP.

A Transformer reads a sequence of vectors; a picture becomes one by cutting it into patches
(the Vision Transformer, ViT): a 16 x 16 picture cut into 4 x 4 patches is a "sentence" of
16 "words", each patch flattened and projected to D numbers (one strided convolution does
exactly that).

CLIP learns a shared space for pictures and their captions from (picture, caption) pairs
alone: an image encoder and a text encoder map both to E-dimensional vectors, and a
contrastive loss pulls each picture towards its own caption and away from the other
captions of the batch (and each caption towards its own picture):

    logits[i, j] = exp(t) · cos(text_i, image_j)      one row per caption, one column per picture
    loss = ( CE(rows, diagonal) + CE(columns, diagonal) ) / 2

Zero-shot classification then needs no classifier at all: embed one caption per class
("a red circle", "a blue cross", ...) and give each picture the class whose caption is
closest to it in cosine.

ViT 把图片切成小块（patch），每块展平后投影成 D 维向量，图片就成了一个"句子"。CLIP 用
（图片，说明文字）对训练两个编码器，使每张图片与自己的文字靠近、与同一批中其他文字远离
（对比损失）。零样本分类：为每个类别写一句文字，图片归入余弦相似度最高的那一类。

Lecture: the course's last slides (from language models to models that also see: ViT,
CLIP), and "🤗 Encoder" (a patch sequence goes through the same encoder blocks).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BATCH_SIZE = 32


class PatchEmbedding(nn.Module):
    """Cut pictures into patches and project each one / 把图片切块并投影成向量.

    A patch is a patch_size x patch_size square of all in_channels; patch (r, c) covers rows
    r·p .. r·p+p-1 and columns c·p .. c·p+p-1. One ``nn.Conv2d(in_channels, D,
    kernel_size=p, stride=p)`` computes ``W · flatten(patch) + b`` for every patch at once
    (its weight [D, C, p, p] is W, one row per output feature).

    Args (constructor):
        image_size: S, the pictures' height and width; patch_size: p. ``S % p != 0`` raises
            ValueError. The sequence has N = (S / p)² patches, kept as ``num_patches``.
        in_channels: C (3 for RGB); d_model: D.
    Submodule: proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size).
    forward(images: [B, C, S, S]) -> [B, N, D], patches in row-major order: index r·(S/p) + c
        is the patch in patch-row r, patch-column c (left to right, then top to bottom,
        like reading text). The output keeps the input's dtype.

    按行优先顺序排列图像块：先从左到右，再从上到下（像读文字一样）。

    Lecture: ViT (an image is worth 16 x 16 words).
    """

    def __init__(self, image_size: int, patch_size: int, in_channels: int, d_model: int):
        super().__init__()
        # TODO: reject image_size % patch_size != 0 with ValueError; keep num_patches;
        #       create proj as a Conv2d whose kernel and stride are both the patch size.
        raise NotImplementedError("PatchEmbedding.__init__")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B, C, S, S] -> [B, N, D] / 图片 → 图像块向量序列."""
        # TODO: proj gives [B, D, S/p, S/p]; flatten the two grid dims and move D last.
        raise NotImplementedError("PatchEmbedding.forward")


def clip_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: float | torch.Tensor
) -> torch.Tensor:
    """CLIP's symmetric contrastive loss / CLIP 的对称对比损失.

        img = image_emb / ||image_emb||, txt = text_emb / ||text_emb||   (each row, L2)
        logits = exp(logit_scale) · txt @ imgᵀ              [B, B]: caption i vs picture j
        loss = ( CE(logits, arange(B)) + CE(logitsᵀ, arange(B)) ) / 2

    Pair i (picture i, caption i) is the right answer of row i and of column i; the other
    B - 1 entries of the batch are the wrong ones. Each cross-entropy is a mean over the B
    rows. Equal to 🤗 transformers' CLIPModel loss (``image_text_contrastive_loss`` of the
    caption-by-picture logits; named ``clip_loss`` before transformers 5).

    Args:
        image_emb: [B, D]; text_emb: [B, D] (the same shape, else ValueError).
        logit_scale: the log of the inverse temperature t (CLIP learns it, starting at
            log(1 / 0.07)); a float, or a 0-dim tensor that then receives a gradient
            (use it through torch operations, not math.exp or .item()).
    Returns:
        a 0-dim tensor of the embeddings' dtype; 0 for B = 1 (the only caption has nothing
        to be confused with). Gradients flow to both embeddings and to logit_scale.

    先把两组向量按行归一化，相似度乘以 exp(logit_scale)，对行和对列各算一次以对角线为目标的
    交叉熵，取平均。

    Lecture: CLIP (contrastive language-image pre-training).
    """
    # TODO: normalise both (norm over the last dim, keepdim); logits = exp(scale) · txt @ imgᵀ;
    #       targets torch.arange(B); the mean of F.cross_entropy over rows and over columns.
    raise NotImplementedError("clip_loss")


def zero_shot_classify(image_emb: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
    """Zero-shot classification / 零样本分类.

    Each picture gets the class whose embedding is closest in cosine:
    ``argmax_c cos(image_emb[n], class_emb[c])``. The lengths of the class embeddings do not
    matter (normalise them); an image's own length does not change its argmax.

    Args:
        image_emb: [N, D], e.g. the image encoder on the pictures.
        class_emb: [C, D], e.g. the text encoder on one caption per class ("a red circle").
    Returns:
        Long[N], values in [0, C). (Exact ties are outside the contract.)

    每张图片归入余弦相似度最高的类别（类别向量的长度无关紧要）。
    """
    # TODO: cosine similarities [N, C] (normalise the rows of both); argmax over the classes.
    raise NotImplementedError("zero_shot_classify")


class ImageEncoder(nn.Module):
    """One way to embed pictures for train_clip / train_clip 的一种图像编码器.

    Yours to design (the grader only calls ``image_encoder(images) -> [N, E]``). This one:
    PatchEmbedding(S, p, C, D) -> ReLU -> the patch sequence laid back on its (S/p) x (S/p)
    grid -> a 3 x 3 convolution that mixes neighbouring patches (so the outline of a shape
    is seen, not just a bag of patches) -> ReLU -> max over the grid -> nn.Linear(D, E).
    The max keeps "some patch shows a corner / a bar / a curve" wherever the shape is; a
    mean over the grid dilutes it with the background, and learns shapes several times more
    slowly. A small ViT (positions + an EncoderBlock) also works, more slowly.

    Args (constructor): image_size S, in_channels C, embed_dim E; patch_size p (default 4,
    or the largest divisor of S below it); d_model D (default 64).
    """

    def __init__(
        self, image_size: int, in_channels: int, embed_dim: int, patch_size: int = 4, d_model: int = 64
    ):
        super().__init__()
        # TODO: your image encoder's layers (see above).
        raise NotImplementedError("ImageEncoder.__init__")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[N, C, S, S] -> [N, E]."""
        # TODO: patches, then mix, pool and project.
        raise NotImplementedError("ImageEncoder.forward")


class TextEncoder(nn.Module):
    """One way to embed captions for train_clip / train_clip 的一种文本编码器.

    Yours to design (the grader only calls ``text_encoder(ids) -> [N, E]`` on right-padded
    captions). This one: the mean of the word vectors of the real (non-pad) tokens, then
    nn.Linear(D, E): a bag of words, enough for "a small red circle".

    Args (constructor): vocab_size, embed_dim E, pad_id, d_model D (default 64).
    """

    def __init__(self, vocab_size: int, embed_dim: int, pad_id: int = 0, d_model: int = 64):
        super().__init__()
        # TODO: your text encoder's layers (see above).
        raise NotImplementedError("TextEncoder.__init__")

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Long[N, L] -> [N, E]."""
        # TODO: the mean over the real tokens only, then the head.
        raise NotImplementedError("TextEncoder.forward")


def train_clip(
    images: torch.Tensor,
    captions: torch.Tensor,
    vocab_size: int,
    embed_dim: int = 32,
    pad_id: int = 0,
    epochs: int = 8,
    lr: float = 1e-2,
    seed: int = 0,
) -> tuple[nn.Module, nn.Module]:
    """Train an image encoder and a text encoder with clip_loss / 用对比损失训练两个编码器.

    Mini-batches of (picture, caption) pairs; each step: embed both sides, clip_loss with a
    learned logit_scale (a 0-dim nn.Parameter starting at log(1 / 0.07), kept at most
    log(100) as CLIP does), AdamW step on both encoders and the scale.

    Args:
        images: [N, C, S, S] float pictures (values in [0, 1]); captions: Long[N, L],
            right-padded with pad_id; caption i describes picture i.
        vocab_size: the number of caption ids; embed_dim: E, the shared space's width.
        epochs, lr: the defaults must train well within the grader's time budget (these
            take about half a second of CPU). Keep the batches small (32): with 16 classes, a
            large batch holds many pairs of the same class, which the loss then pushes apart.
        seed: everything random (initialisation, batch order) follows from it (tip:
            torch.random.fork_rng() with torch.manual_seed(seed) inside it also leaves the
            caller's random state alone).
    Returns:
        (image_encoder, text_encoder), nn.Modules in eval mode with image_encoder(images
        [M, C, S, S]) -> [M, E] and text_encoder(ids Long[M, L]) -> [M, E], compared by
        cosine. Judged by zero-shot accuracy on held-out pictures of coloured shapes (16
        classes, one caption "a {colour} {shape}" each) within a time budget the grader
        states.

    每一步：两边编码，用可学习的 logit_scale 计算 clip_loss，AdamW 更新两个编码器和 scale。
    返回 eval 模式的 (image_encoder, text_encoder)。
    """
    # TODO: seed; build both encoders (e.g. ImageEncoder, TextEncoder) and logit_scale; AdamW
    #       over all their parameters; epochs of shuffled batches of 32: clip_loss -> step.
    raise NotImplementedError("train_clip")
