"""The whole Transformer: encoder, decoder, translation / 完整的 Transformer：编码器 + 解码器.

The original Transformer ("Attention Is All You Need") turns one sequence into another,
say a German sentence into an English one. It is the two halves met so far, joined by
cross-attention:

    src ids -> src_emb + pos_emb -> N EncoderBlocks -> enc_ln -> memory [B, Ls, D]
    tgt ids -> tgt_emb + pos_emb -> N Seq2SeqDecoderBlocks(·, memory) -> dec_ln -> proj
            -> logits [B, Lt, V_tgt]

The encoder reads the whole source at once (every source token sees every real source
token); the decoder writes the target one token at a time: causal self-attention over what
it wrote so far, cross-attention into the memory (queries from the decoder, keys and values
from the encoder), then the FFN. Training is teacher forcing: the decoder reads
``[BOS] y1 .. yn`` and must predict ``y1 .. yn [EOS]``, all positions in one pass.
Translating is generation: start from ``[BOS]``, append the most likely next token, stop
at ``[EOS]``.

原始 Transformer 把一个序列变成另一个序列（如翻译）。编码器一次读完整个源句；解码器一个词
一个词地写：对已写出的词做因果自注意力，再对编码器的输出（memory）做交叉注意力（Q 来自
解码器，K、V 来自编码器），最后是 FFN。训练时用 teacher forcing：输入 [BOS] y1..yn，
预测 y1..yn [EOS]；翻译时从 [BOS] 开始逐个取最可能的词，直到 [EOS]。

Lecture: "🤗 Transformer" (the full encoder-decoder figure), "🤗 Attention Types"
(Self / Cross / Masked Attention), "🤗 Encoder", "🤗 Decoder".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from blocks import EncoderBlock, Seq2SeqDecoderBlock
from torch import nn

BATCH_SIZE = 64


class MiniTransformer(nn.Module):
    """An encoder-decoder Transformer / 编码器-解码器 Transformer.

    Args:
        src_vocab: the number of source token ids; tgt_vocab: the number of target ids
            (the output vocabulary, BOS and EOS included).
        max_len: the most positions either side may have; longer inputs are invalid.
        d_model: D; n_heads: H (D % H == 0); n_layers: N blocks in the encoder AND N in
            the decoder; d_ff: the FFN's inner width, default 4 * D.
    Submodules (names are the contract, so a state_dict moves between models):
        src_emb: nn.Embedding(src_vocab, D)   source word vectors
        tgt_emb: nn.Embedding(tgt_vocab, D)   target word vectors
        pos_emb: nn.Embedding(max_len, D)     learned positions, SHARED by both sides
        encoder: nn.ModuleList of N EncoderBlock(D, H, d_ff, activation="gelu")
        enc_ln:  nn.LayerNorm(D)              the encoder stack's final norm
        decoder: nn.ModuleList of N Seq2SeqDecoderBlock(D, H, d_ff, activation="gelu")
        dec_ln:  nn.LayerNorm(D)              the decoder stack's final norm
        proj:    nn.Linear(D, tgt_vocab)      hidden -> target logits (with bias, not tied)
    No sqrt(D) scaling of the embeddings, no dropout.

    The two stacks equal ``nn.Transformer(d_model=D, nhead=H, num_encoder_layers=N,
    num_decoder_layers=N, dim_feedforward=d_ff or 4*D, dropout=0.0, activation="gelu",
    batch_first=True, norm_first=False)`` with the same weights: its ``encoder.norm`` is
    ``enc_ln`` and its ``decoder.norm`` is ``dec_ln`` (compare in train() mode; its eval
    fast path zeroes the outputs at padded source positions).

    两侧共用一个位置嵌入 pos_emb；编码器、解码器各 N 层，各自最后有一个 LayerNorm。

    Lecture: "🤗 Transformer".
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        max_len: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        d_ff: int | None = None,
    ):
        super().__init__()
        # TODO: create the embeddings, the two stacks with their final LayerNorms and proj
        #       (names and order as above); remember max_len for the length checks.
        raise NotImplementedError("MiniTransformer.__init__")

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Source ids -> memory / 源句 → 编码器输出 memory.

            memory = enc_ln(blocks(src_emb(src) + pos_emb(0..Ls-1), mask))

        Args:
            src: Long[B, Ls], ``Ls <= max_len`` (longer raises ValueError).
            src_mask: optional Bool[B, Ls], True at real tokens (padding anywhere, usually on
                the right). Padding positions are masked out as KEYS of every encoder block;
                None means every token is real.
        Returns:
            memory [B, Ls, D]. At real positions it does not depend on the ids at padding
            positions. Padding positions get the formula's vector too, as nn.Transformer
            computes it in train() mode (it is compared: do not zero them, as its eval fast
            path does), although the decoder never reads them when given the same src_mask.

        padding 位置作为 key 被屏蔽（mask 形状 [B, 1, 1, Ls]）。padding 位置的输出也按公式计算并参与比较，
        不要置零。
        """
        # TODO: check Ls; embeddings + positions 0..Ls-1; the key mask as [B, 1, 1, Ls];
        #       every encoder block; enc_ln.
        raise NotImplementedError("MiniTransformer.encode")

    def decode(
        self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Target ids so far + memory -> hidden states / 已写出的目标词 + memory → 隐状态.

            hidden = dec_ln(blocks(tgt_emb(tgt) + pos_emb(0..Lt-1), memory, memory_mask))

        Args:
            tgt: Long[B, Lt], ``Lt <= max_len`` (longer raises ValueError); usually
                ``[BOS] y1 .. y_{Lt-1}``.
            memory: [B, Ls, D] from ``encode``.
            src_mask: optional Bool[B, Ls], the same mask that made ``memory``: padded source
                positions are masked out as keys of every cross-attention.
        Returns:
            hidden [B, Lt, D]; position t depends only on tgt[:, :t+1] (the blocks' self-
            attention is causal) and on the real memory positions.

        交叉注意力中屏蔽源句的 padding；自注意力是因果的（块内部已处理）。
        """
        # TODO: check Lt; embeddings + positions 0..Lt-1 (the same pos_emb as the encoder);
        #       every decoder block with memory and the source key mask; dec_ln.
        raise NotImplementedError("MiniTransformer.decode")

    def forward(
        self, src: torch.Tensor, tgt: torch.Tensor, src_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Teacher-forced logits / teacher forcing 下每个目标位置的 logits.

        proj(decode(tgt, encode(src, src_mask), src_mask)) -> [B, Lt, tgt_vocab];
        softmax(logits[b, t]) = P(next target token | src[b], tgt[b, :t+1]).
        Same arguments and ValueErrors as ``encode`` and ``decode``.
        """
        # TODO: encode, decode, project.
        raise NotImplementedError("MiniTransformer.forward")


@torch.no_grad()
def greedy_translate(
    model: MiniTransformer,
    src: torch.Tensor,
    bos_id: int,
    eos_id: int,
    max_new_tokens: int,
    src_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Greedy decoding / 贪心解码：每一步取最可能的下一个词.

    Encode the source once. Start every row with ``bos_id``; at each step run the decoder
    on everything written so far, take the argmax of the logits at the LAST position and
    append it. A row that has produced ``eos_id`` is finished: from then on it gets
    ``eos_id`` whatever the model says. Stop as soon as every row is finished, or after
    ``max_new_tokens`` steps.

    Args:
        model: a MiniTransformer (its ``encode``, ``decode`` and ``proj`` are used; it is not
            modified, nor is its train/eval mode).
        src: Long[B, Ls]; src_mask: optional Bool[B, Ls], True at real tokens.
        bos_id, eos_id: target ids that start and end a translation.
        max_new_tokens: at most this many tokens after BOS, ``0 <= max_new_tokens <=
            max_len`` where ``max_len = model.pos_emb.num_embeddings`` (the decoder reads at
            most max_len tokens); outside that range raises ValueError, before any decoding.
            0 returns the BOS column.
    Returns:
        Long[B, 1 + n] with ``n <= max_new_tokens``: column 0 is ``bos_id``; n is the first
        step after which every row has produced ``eos_id`` (or max_new_tokens). After its
        first ``eos_id`` a row holds only ``eos_id``. ``src`` is not modified.

    每行从 BOS 开始；某行生成 EOS 后就结束了，之后只填 EOS；所有行都结束（或达到
    max_new_tokens）就停止。

    Lecture: "🤗 Decoder" (自回归生成：每次生成下一个词).
    """
    # TODO: validate max_new_tokens; memory = model.encode once; a BOS column; loop:
    #       logits at the last position, argmax, eos_id where the row is finished, append,
    #       update the finished rows, stop when all are finished.
    raise NotImplementedError("greedy_translate")


def train_seq2seq(
    pairs: list[tuple[list[int], list[int]]],
    src_vocab: int,
    tgt_vocab: int,
    bos_id: int,
    eos_id: int,
    pad_id: int = 0,
    d_model: int = 64,
    n_heads: int = 4,
    n_layers: int = 2,
    epochs: int = 3,
    lr: float = 6e-3,
    seed: int = 0,
) -> MiniTransformer:
    """Train a MiniTransformer on (source, target) pairs / 在句对上训练 MiniTransformer.

    Teacher forcing: for a pair (x, y) the encoder reads x, the decoder reads
    ``[bos] + y`` and is trained with cross-entropy to predict ``y + [eos]`` at every
    position; sources are right-padded with ``pad_id`` and masked (src_mask), padded target
    positions do not count in the loss (``ignore_index``).

    Args:
        pairs: N pairs of token-id lists (x, y), x ids in [0, src_vocab), y ids in
            [0, tgt_vocab); neither contains bos/eos (added here), both non-empty.
        src_vocab, tgt_vocab: the vocabulary sizes; bos_id, eos_id: target ids; pad_id: the
            id used for padding (both sides; it never counts).
        d_model, n_heads, n_layers: the model's size; ``max_len`` is yours to choose, at
            least ``max(len(x), len(y) + 1)`` over the pairs (the grader translates sources
            as long as the longest training source, into targets as long as the longest one).
        epochs, lr: the defaults must train well within the grader's time budget.
        seed: everything random (initialisation, batch order) follows from it: the same
            arguments give the same model (tip: torch.random.fork_rng() with
            torch.manual_seed(seed) inside it also leaves the caller's random state alone).
    Returns:
        the trained MiniTransformer, in eval mode.
    Judged by exact-match accuracy of greedy translations on held-out sources of a shipped
    synthetic task (reversing a sequence of symbols) within a time budget that the grader
    states.

    训练：解码器输入 [bos] + y，目标 y + [eos]；padding 不计入损失。返回 eval 模式的模型。
    """
    # TODO: pad the sources (and the mask) and the decoder inputs / targets into tensors;
    #       seed; build the model; AdamW; epochs of shuffled mini-batches: logits ->
    #       F.cross_entropy(..., ignore_index=pad_id) over the target positions -> step.
    raise NotImplementedError("train_seq2seq")
