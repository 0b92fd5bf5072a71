"""Exercise 5: multi-head and grouped-query attention / 多头注意力与分组查询注意力.

One attention head learns one kind of relation ("小明" answers the query "他的名字").
Multi-head attention cuts Q, K and V into H slices of width dh = D / H and lets every
slice attend on its own, so different heads can follow different relations; the outputs
are concatenated and mixed by O_proj. The four projections hold 4·D² weights (plus 4·D
biases), the same as one wide head.

    (Q_0, ..., Q_{H-1}) = Q_proj(x)      Q_h: [L, dh]   (K and V likewise)
    Output = O_proj(Concat_h(Attention(Q_h, K_h, V_h)))

Grouped-query attention (GQA) is the middle ground between multi-head attention (one
K/V head per query head) and multi-query attention (one K/V head shared by all): Hkv
key/value heads, each shared by a group of H / Hkv query heads. It shrinks K_proj, V_proj
and the K/V cache of generation by a factor H / Hkv.

Masks follow the course convention: True = may attend (the opposite of the boolean masks
of nn.MultiheadAttention).

一个注意力头只学到一种关系；多头注意力把 Q、K、V 切成 H 份（每份宽 dh = D / H），每个头各自做
注意力，再拼接起来经 O_proj 混合。参数量 4·D²（另加偏置）。分组查询注意力介于多头（每个查询头一组 K/V）与
多查询（所有头共用一组 K/V）之间：Hkv 个 K/V 头，每个被 H / Hkv 个查询头共用。

Lecture: "🤗 Multi Head Attention" and "🤗 Group Query Attention".
"""

from __future__ import annotations

import torch
from attention import scaled_dot_product_attention
from torch import nn


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Split the feature dim into heads / 把特征维切成多个头.

    Head h owns features h*dh:(h+1)*dh of every position, and the head axis moves in front
    of the sequence axis so that each head is an independent [L, dh] attention problem.

    Args:
        x: [B, L, H*dh]
        n_heads: H, which must divide the last dim.
    Returns:
        [B, H, L, dh]

    Raises:
        ValueError: if the last dim is not divisible by n_heads.

    第 h 个头拥有每个位置的第 h*dh 到 (h+1)*dh 个特征；注意头的维度要挪到序列维前面。

    Lecture: "🤗 Multi Head Attention" ((Q_0, Q_1, Q_2, Q_3) = Q).
    """
    # TODO: view the last dim as (H, dh), then swap the L and H axes.
    #       A plain view straight to (B, H, L, dh) mixes positions into the heads.
    raise NotImplementedError("split_heads")


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Concatenate the heads again / 把多个头拼接回来.

    The inverse of split_heads: merge_heads(split_heads(x, H)) == x.

    Args:
        x: [B, H, L, dh]
    Returns:
        [B, L, H*dh]; features h*dh:(h+1)*dh come from head h.

    split_heads 的逆运算：先把头的维度换回序列维之后，再拼接。

    Lecture: "🤗 Multi Head Attention" (Concat(Attention(Q_i, K_i, V_i))).
    """
    # TODO: undo split_heads: swap H and L back first, then flatten (H, dh) into one dim.
    raise NotImplementedError("merge_heads")


class MultiHeadAttention(nn.Module):
    """Multi-head attention / 多头注意力.

        q = split(Q_proj(x)), k = split(K_proj(kv)), v = split(V_proj(kv))   [B, H, L, dh]
        out = O_proj(merge(softmax(q kᵀ / sqrt(dh)) v))

    Self-attention when kv is None (Q, K, V all come from x); cross-attention otherwise
    (Q from x, K and V from kv, e.g. the encoder's output). Note the scale is sqrt(dh), the
    width of one head, not sqrt(D).

    Args (constructor):
        d_model: D.
        n_heads: H; D must be divisible by H (ValueError otherwise).
        bias: whether the four projections have a bias.
    Submodules (names are part of the contract):
        q_proj, k_proj, v_proj, o_proj: nn.Linear(D, D, bias=bias).

    Numerically the same as nn.MultiheadAttention(D, H, batch_first=True) whose
    in_proj_weight is cat(q_proj.weight, k_proj.weight, v_proj.weight) and whose out_proj is
    o_proj; but its boolean masks mean True = blocked, ours True = may attend.

    自注意力（kv 为 None）：Q、K、V 都来自 x；交叉注意力：Q 来自 x，K、V 来自 kv。缩放用的是
    单个头的宽度 sqrt(dh)，不是 sqrt(D)。

    Lecture: "🤗 Multi Head Attention", "🤗 Attention Types" (Self / Cross Attention).
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        # TODO: check that n_heads divides d_model; keep n_heads on self for forward;
        #       create q_proj, k_proj, v_proj, o_proj.
        raise NotImplementedError("MultiHeadAttention.__init__")

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ):
        """Attend from x to kv (or to x itself) / 从 x 注意 kv（或 x 自身）.

        Args:
            x: [B, Lq, D]  the sequence that asks (queries).
            kv: [B, Lk, D] or None  the sequence that answers (keys and values);
                None means kv = x (self-attention).
            mask: optional bool, broadcastable to [B, H, Lq, Lk]; True = may attend.
                A causal mask is [Lq, Lk]; a key padding mask is [B, 1, 1, Lk].
            need_weights: also return the attention probabilities.
        Returns:
            out [B, Lq, D], or (out, probs [B, H, Lq, Lk]) when need_weights: one
            probability matrix per head, not averaged over heads.
        """
        # TODO: project, split into heads, run your scaled_dot_product_attention on all
        #       heads at once (it accepts leading dims), merge the heads, project with o_proj.
        raise NotImplementedError("MultiHeadAttention.forward")


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Repeat every key/value head n_rep times / 每个 K/V 头重复 n_rep 次.

    Each kv head is repeated in place, so the head order is 0,0,..,1,1,..: query heads
    h = g*n_rep .. (g+1)*n_rep - 1 (one group) all read kv head g = h // n_rep.
    (Tiling, 0,1,..,0,1,.., would pair the query heads with the wrong kv heads.)

    Args:
        x: [B, Hkv, L, dh]
        n_rep: how many query heads share one kv head, >= 1 (ValueError otherwise).
    Returns:
        [B, Hkv*n_rep, L, dh]; n_rep == 1 returns x unchanged.

    每个 K/V 头原地重复（顺序 0,0,..,1,1,..），使同一组的查询头读同一个 K/V 头。

    Lecture: "🤗 Group Query Attention".
    """
    # TODO: repeat along the head axis so that copies of the same head stay next to each other.
    raise NotImplementedError("repeat_kv")


class GroupedQueryAttention(nn.Module):
    """Grouped-query attention (self-attention) / 分组查询注意力.

        q = split(Q_proj(x), H)          [B, H, L, dh]
        k = split(K_proj(x), Hkv)        [B, Hkv, L, dh]   (v likewise)
        out = O_proj(merge(Attention(q, repeat_kv(k), repeat_kv(v))))

    Query head h uses kv head h // (H / Hkv). Hkv == H is multi-head attention
    (equal to MultiHeadAttention(bias=False) with the same weights); Hkv == 1 is
    multi-query attention.

    Args (constructor):
        d_model: D; n_heads: H; n_kv_heads: Hkv.
        Invalid (ValueError) unless H % Hkv == 0 and D % H == 0 (and both >= 1).
        bias: whether the projections have a bias (Llama-style models use none).
    Submodules:
        q_proj: nn.Linear(D, D), k_proj and v_proj: nn.Linear(D, Hkv*dh),
        o_proj: nn.Linear(D, D), with dh = D // H.

    介于多头注意力（Hkv = H）与多查询注意力（Hkv = 1）之间：第 h 个查询头使用第 h // (H / Hkv)
    个 K/V 头。K_proj、V_proj 的输出宽度只有 Hkv*dh。

    Lecture: "🤗 Group Query Attention".
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, bias: bool = False):
        super().__init__()
        # TODO: validate the head counts; keep n_heads and n_kv_heads on self;
        #       k_proj and v_proj only produce n_kv_heads heads of width dh.
        raise NotImplementedError("GroupedQueryAttention.__init__")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention with shared key/value heads / 共享 K/V 头的自注意力.

        Args:
            x: [B, L, D]
            mask: optional bool, broadcastable to [B, H, L, L]; True = may attend.
        Returns:
            [B, L, D]
        """
        # TODO: split q into n_heads and k, v into n_kv_heads; repeat_kv so every query
        #       head has its kv head; then attention, merge, o_proj as in MultiHeadAttention.
        raise NotImplementedError("GroupedQueryAttention.forward")
