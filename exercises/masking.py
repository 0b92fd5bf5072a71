"""Exercise `masking` — who may look at whom / 谁可以看见谁.

Lecture: "Attention Types" (self / cross / masked attention) and "🤗 Decoder"
(Masked Attention：每个词做 Attention 时只能加权到之前的词).
Convention: a bool mask, True = "may attend" / "is a real token", broadcast against the
scores [..., Lq, Lk]. Padding is on the right.
"""

from __future__ import annotations

import torch


def causal_mask(L: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Causal (look-back-only) mask / 因果掩码.

    mask[i, j] = (j <= i): query i may see key j only if j is not in its future.

    Args:
        L: sequence length (L >= 0).
        device: where to create it (default: CPU).
    Returns:
        Bool[L, L], lower triangle (diagonal included) True.
    """
    # TODO: compare a column of positions with a row of positions, or use torch.tril.
    raise NotImplementedError("causal_mask")


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Which positions hold real tokens / 哪些位置是真实的词（右侧填充）.

    mask[b, t] = (t < lengths[b])

    Args:
        lengths: Long[B], each in [0, max_len].
        max_len: the padded length.
    Returns:
        Bool[B, max_len].
    Raises:
        ValueError: if a length is negative or larger than max_len.
    """
    # TODO: check the lengths, then compare positions 0..max_len-1 with each length.
    raise NotImplementedError("padding_mask")


def key_padding_to_attention_mask(key_mask: torch.Tensor) -> torch.Tensor:
    """A key-padding mask, shaped to broadcast against multi-head scores [B, H, Lq, Lk].

    Args:
        key_mask: Bool[B, Lk], True at real keys.
    Returns:
        Bool[B, 1, 1, Lk] (a view is fine; it must not share writes with the input's caller
        in a way that changes key_mask).
    """
    # TODO: add the head axis and the query axis.
    raise NotImplementedError("key_padding_to_attention_mask")


def combine_masks(*masks: torch.Tensor | None) -> torch.Tensor | None:
    """Both conditions must hold / 组合多个掩码（逻辑与）.

    Broadcast logical AND of every mask given; None entries are ignored.

    Returns:
        the broadcast AND (a new tensor), or None when every entry is None (or none given).
    Raises:
        RuntimeError from torch if the shapes do not broadcast.
    """
    # TODO: skip the Nones; AND the rest together with broadcasting.
    raise NotImplementedError("combine_masks")


def causal_padding_mask(lengths: torch.Tensor, L: int) -> torch.Tensor:
    """A decoder's mask: causal AND key padding / 因果掩码与填充掩码的组合.

    mask[b, 0, i, j] = (j <= i) and (j < lengths[b])

    Args:
        lengths: Long[B], each in [0, L].
        L: the padded length.
    Returns:
        Bool[B, 1, L, L].
    Raises:
        ValueError: if a length is outside [0, L].
    """
    # TODO: combine your causal_mask with the key-padding mask, shaped to [B, 1, L, L].
    raise NotImplementedError("causal_padding_mask")
