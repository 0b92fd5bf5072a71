"""Exercise 7: Transformer layers / Transformer 层.

A Transformer layer is attention (positions exchange information) followed by the
feed-forward network (each position consults the memory), each wrapped in a residual
connection and a LayerNorm. Where the LayerNorm sits gives two families:

    post-LN (original Transformer, BERT):  x = LN(x + sublayer(x))
    pre-LN  (GPT-2 and most LLMs):         x = x + sublayer(LN(x))

A layer holds about 4·D² (attention) + 8·D² (FFN with d_ff = 4·D) = 12·D² weights.

Three layers are built here: the encoder layer (BERT, every position sees every real
token), the decoder layer of a GPT (masked self-attention: a position only sees itself
and earlier positions), and the decoder layer of the original seq2seq Transformer
(masked self-attention, then cross-attention to the encoder's output, then the FFN).

Masks: True = may attend (nn.Transformer*Layer's boolean masks mean the opposite).

Transformer 层 = 注意力（位置之间交换信息）+ 前馈网络（每个位置查询记忆），各自带残差连接与
LayerNorm。post-LN：x = LN(x + f(x))（原始 Transformer、BERT）；pre-LN：x = x + f(LN(x))
（GPT-2）。编码器层看见所有真实词；GPT 的解码器层只看见自己和之前的词；seq2seq 解码器层还要对
编码器输出做交叉注意力。

Lecture: "🤗 Transformer", "🤗 Encoder", "🤗 Decoder", "🤗 Attention Types".
"""

from __future__ import annotations

import torch
from ffn import FeedForward
from masking import causal_mask
from multihead import MultiHeadAttention
from torch import nn


def layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Layer normalisation over the last dim / 在最后一维上做层归一化.

        y = (x - mean) / sqrt(var + eps) * weight + bias

    mean and var are taken over the last dim; var is the biased variance (divide by D,
    not D - 1); eps goes inside the square root. Same as F.layer_norm(x, (D,), weight,
    bias, eps), which you may not use here (nor nn.LayerNorm).

    Args:
        x: [..., D]
        weight: [D] (gain, gamma); bias: [D] (shift, beta).
        eps: added to the variance.
    Returns:
        [..., D]

    在最后一维上减均值、除以 sqrt(有偏方差 + eps)，再乘 weight 加 bias。禁止使用
    F.layer_norm / nn.LayerNorm。

    Lecture: "🤗 Transformer" (Add & Norm).
    """
    # TODO: mean and biased variance over the last dim (keepdim so they broadcast),
    #       normalise with eps inside the square root, then scale and shift.
    # BEGIN SOLUTION
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1), biased
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
    # END SOLUTION


class EncoderBlock(nn.Module):
    """Post-LN encoder layer (original Transformer, BERT) / 编码器层（post-LN）.

        h   = ln1(x + attn(x, mask=mask))
        out = ln2(h + ffn(h))

    Args (constructor):
        d_model: D; n_heads: H (D % H == 0, else ValueError from MultiHeadAttention).
        d_ff: FFN inner width, None means 4 * D.
        activation: "gelu" or "relu" (passed to FeedForward).
        eps: the LayerNorms' eps.
    Submodules (names are part of the contract):
        attn: MultiHeadAttention(D, H), ln1: nn.LayerNorm(D, eps=eps),
        ffn: FeedForward(D, d_ff, activation), ln2: nn.LayerNorm(D, eps=eps).
    forward(x: [B, L, D], mask=None) -> [B, L, D]; mask is bool, broadcastable to
    [B, H, L, L], True = may attend (a key padding mask is passed as [B, 1, 1, L]).

    Equal to nn.TransformerEncoderLayer(D, H, d_ff, dropout=0, activation=activation,
    layer_norm_eps=eps, batch_first=True, norm_first=False) with the same weights.

    先做注意力、加残差、再 LayerNorm；FFN 同样。LayerNorm 在残差相加之后（post-LN）。

    Lecture: "🤗 Encoder" (BERT), "🤗 Transformer" (left side).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        activation: str = "gelu",
        eps: float = 1e-5,
    ):
        super().__init__()
        # TODO: create attn, ln1, ffn, ln2 (in this order).
        # BEGIN SOLUTION
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)
        # END SOLUTION

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One encoder layer / 一层编码器.

        Args:
            x: [B, L, D]
            mask: optional bool, broadcastable to [B, H, L, L]; True = may attend.
        Returns:
            [B, L, D]
        """
        # TODO: residual add, then LayerNorm, around the attention and around the FFN.
        # BEGIN SOLUTION
        h = self.ln1(x + self.attn(x, mask=mask))
        return self.ln2(h + self.ffn(h))
        # END SOLUTION


class DecoderBlock(nn.Module):
    """Pre-LN decoder layer (GPT-2 style) / 解码器层（pre-LN，GPT-2 风格）.

        x = x + attn(ln1(x), mask=causal AND mask)
        x = x + ffn(ln2(x))

    Masked self-attention: position i only sees positions j <= i, always, so that a
    next-token predictor cannot peek at the token it must predict. A mask given by the
    caller (e.g. key padding, [B, 1, 1, L]) is AND-ed with the causal mask, never used
    instead of it.

    Args (constructor): same as EncoderBlock.
    Submodules (names are part of the contract):
        ln1: nn.LayerNorm(D, eps=eps), attn: MultiHeadAttention(D, H),
        ln2: nn.LayerNorm(D, eps=eps), ffn: FeedForward(D, d_ff, activation).
    forward(x: [B, L, D], mask=None) -> [B, L, D]; mask is bool, broadcastable to
    [B, H, L, L], True = may attend.

    每个词做注意力时只能加权到自己和之前的词（因果掩码总是生效，与传入的 mask 取“与”）。
    LayerNorm 在子层之前（pre-LN），残差直接加在 x 上。

    Lecture: "🤗 Decoder" (Masked Attention), "🤗 Decoder Only" (GPT).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        activation: str = "gelu",
        eps: float = 1e-5,
    ):
        super().__init__()
        # TODO: create ln1, attn, ln2, ffn (in this order).
        # BEGIN SOLUTION
        self.ln1 = nn.LayerNorm(d_model, eps=eps)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation)
        # END SOLUTION

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One GPT layer / 一层 GPT 解码器.

        Args:
            x: [B, L, D]
            mask: optional bool, broadcastable to [B, H, L, L]; True = may attend.
                Combined with the causal mask by logical AND.
        Returns:
            [B, L, D]
        """
        # TODO: build the causal mask for L (your causal_mask from the masking exercise),
        #       AND it with mask when given; then the two pre-LN residual steps.
        # BEGIN SOLUTION
        causal = causal_mask(x.shape[1], device=x.device)  # (L, L)
        mask = causal if mask is None else causal & mask  # broadcasts to (B, H, L, L)
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.ffn(self.ln2(x))
        # END SOLUTION


class Seq2SeqDecoderBlock(nn.Module):
    """Post-LN decoder layer of the original Transformer / 原始 Transformer 的解码器层.

        x = ln1(x + self_attn(x, mask=causal))                      masked self-attention
        x = ln2(x + cross_attn(x, kv=memory, mask=memory_mask))     queries from x,
                                                                    keys/values from memory
        x = ln3(x + ffn(x))

    Args (constructor): same as EncoderBlock.
    Submodules (names are part of the contract):
        self_attn: MultiHeadAttention(D, H), ln1, cross_attn: MultiHeadAttention(D, H),
        ln2, ffn: FeedForward(D, d_ff, activation), ln3 (LayerNorms: nn.LayerNorm(D, eps)).
    forward(x: [B, Lq, D], memory: [B, Lk, D], memory_mask=None) -> [B, Lq, D].
        The self-attention is always causal (and has no other mask). memory_mask is bool,
        True = may attend, broadcastable to [B, H, Lq, Lk]; a key padding mask over the
        memory is passed as [B, 1, 1, Lk].

    Equal to nn.TransformerDecoderLayer(D, H, d_ff, dropout=0, activation=activation,
    layer_norm_eps=eps, batch_first=True, norm_first=False) with the same weights, called
    with a causal tgt_mask and memory_key_padding_mask = ~key_mask (its True = blocked).

    先做带因果掩码的自注意力，再做交叉注意力（Q 来自解码器 x，K、V 来自编码器输出 memory），
    最后是 FFN；每一步之后残差相加再 LayerNorm（post-LN）。

    Lecture: "🤗 Transformer" (right side), "🤗 Attention Types" (Cross Attention).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int | None = None,
        activation: str = "gelu",
        eps: float = 1e-5,
    ):
        super().__init__()
        # TODO: create self_attn, ln1, cross_attn, ln2, ffn, ln3 (in this order).
        # BEGIN SOLUTION
        self.self_attn = MultiHeadAttention(d_model, n_heads)
        self.ln1 = nn.LayerNorm(d_model, eps=eps)
        self.cross_attn = MultiHeadAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)
        self.ffn = FeedForward(d_model, d_ff, activation)
        self.ln3 = nn.LayerNorm(d_model, eps=eps)
        # END SOLUTION

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One seq2seq decoder layer / 一层 seq2seq 解码器.

        Args:
            x: [B, Lq, D]       the decoder's sequence (the output so far).
            memory: [B, Lk, D]  the encoder's output.
            memory_mask: optional bool, broadcastable to [B, H, Lq, Lk]; True = may attend.
        Returns:
            [B, Lq, D]
        """
        # TODO: causal self-attention, cross-attention on memory, FFN; each one followed
        #       by residual add and LayerNorm.
        # BEGIN SOLUTION
        causal = causal_mask(x.shape[1], device=x.device)  # (Lq, Lq)
        x = self.ln1(x + self.self_attn(x, mask=causal))
        x = self.ln2(x + self.cross_attn(x, kv=memory, mask=memory_mask))
        return self.ln3(x + self.ffn(x))
        # END SOLUTION
