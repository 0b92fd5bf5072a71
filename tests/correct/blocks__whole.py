"""Transformer layers, written from scratch (replaces exercises/blocks.py entirely).

Differences from the reference, in form only:
- ``from multihead import *`` (star import) and ``import ffn as feedforward`` (an alias);
  the causal mask is made here (no import of masking), cached per (L, device) with
  ``functools.lru_cache`` under ``@torch.no_grad()``;
- layer_norm via ``torch.Tensor.sub``/``pow``/``rsqrt`` and a private moments helper;
- the LayerNorms are an ``nn.LayerNorm`` subclass whose forward calls this file's
  layer_norm (so the blocks run the student's own normalisation);
- a post-LN and a pre-LN base class; the blocks call ``super().forward``; the seq2seq
  block takes ``*args, **kwargs`` and passes them to a ``dataclass`` config;
- a ``torch.jit.ignore``'d helper, ``__all__``, logging and a print at import, and a
  ``__main__`` self-test against ``nn.TransformerEncoderLayer``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import ffn as feedforward
import torch
from multihead import *  # noqa: F403 - MultiHeadAttention, the way a student might
from torch import nn

__all__ = ["layer_norm", "EncoderBlock", "DecoderBlock", "Seq2SeqDecoderBlock", "BlockConfig"]

logger = logging.getLogger("blocks")
print("blocks: whole-file submission imported")


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance over the last dim, keepdim."""
    mu = x.mean(-1, keepdim=True)
    return mu, x.sub(mu).pow(2).mean(-1, keepdim=True)


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias, over the last dim (biased variance)."""
    mu, var = _moments(x)
    return x.sub(mu).mul(torch.rsqrt(var + eps)).mul(weight).add(bias)


class _LayerNorm(nn.LayerNorm):
    """An nn.LayerNorm (same parameters, same state_dict) computed by layer_norm above."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return layer_norm(input, self.weight, self.bias, self.eps)


@functools.lru_cache(maxsize=64)
@torch.no_grad()
def _causal(L: int, device: torch.device) -> torch.Tensor:
    i = torch.arange(L, device=device)
    return i.unsqueeze(1) >= i.unsqueeze(0)  # [L, L], True = may attend


@dataclasses.dataclass
class BlockConfig:
    d_model: int
    n_heads: int
    d_ff: int | None = None
    activation: str = "gelu"
    eps: float = 1e-5

    def attention(self) -> nn.Module:
        return MultiHeadAttention(self.d_model, self.n_heads)  # noqa: F405

    def norm(self) -> nn.Module:
        return _LayerNorm(self.d_model, eps=self.eps)

    def feedforward(self) -> nn.Module:
        return feedforward.FeedForward(self.d_model, self.d_ff, self.activation)


class _PostLN(nn.Module):
    """x -> LN(x + f(x)) for every (sublayer, norm) pair, in order."""

    def _add_norm(self, x: torch.Tensor, out: torch.Tensor, norm: nn.Module) -> torch.Tensor:
        return norm(x + out)


class _PreLN(nn.Module):
    """x -> x + attn(ln1(x)) -> x + ffn(ln2(x))."""

    ln1: nn.Module
    attn: nn.Module
    ln2: nn.Module
    ffn: nn.Module

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.ffn(self.ln2(x))


class EncoderBlock(_PostLN):
    """Post-LN encoder layer: h = ln1(x + attn(x)), out = ln2(h + ffn(h))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None, activation: str = "gelu",
                 eps: float = 1e-5) -> None:
        super().__init__()
        cfg = BlockConfig(d_model, n_heads, d_ff, activation, eps)
        self.attn = cfg.attention()
        self.ln1 = cfg.norm()
        self.ffn = cfg.feedforward()
        self.ln2 = cfg.norm()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self._add_norm(x, self.attn(x, mask=mask), self.ln1)
        return self._add_norm(h, self.ffn(h), self.ln2)


class DecoderBlock(_PreLN):
    """Pre-LN GPT-2 layer, always causal; a given mask is AND-ed with the causal one."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None, activation: str = "gelu",
                 eps: float = 1e-5) -> None:
        super().__init__()
        cfg = BlockConfig(d_model, n_heads, d_ff, activation, eps)
        self.ln1 = cfg.norm()
        self.attn = cfg.attention()
        self.ln2 = cfg.norm()
        self.ffn = cfg.feedforward()

    @torch.jit.ignore
    def _mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        causal = _causal(x.shape[-2], x.device)
        if mask is None:
            return causal
        return torch.logical_and(mask, causal)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        logger.debug("DecoderBlock.forward %s", tuple(x.shape))
        return super().forward(x, mask=self._mask(x, mask))


class Seq2SeqDecoderBlock(_PostLN):
    """Post-LN seq2seq decoder layer: causal self-attn, cross-attn on memory, FFN."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        cfg = BlockConfig(*args, **kwargs)
        self.self_attn = cfg.attention()
        self.ln1 = cfg.norm()
        self.cross_attn = cfg.attention()
        self.ln2 = cfg.norm()
        self.ffn = cfg.feedforward()
        self.ln3 = cfg.norm()

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None,
                **kwargs) -> torch.Tensor:
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}")
        x = self._add_norm(x, self.self_attn(x, mask=_causal(x.shape[1], x.device)), self.ln1)
        x = self._add_norm(x, self.cross_attn(x, kv=memory, mask=memory_mask), self.ln2)
        return self._add_norm(x, self.ffn(x), self.ln3)


if __name__ == "__main__":
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True)
    blk = EncoderBlock(8, 2, 16)
    x = torch.randn(2, 5, 8)
    print(blk(x).shape, ref(x).shape)
    y = DecoderBlock(8, 2)(x)
    print(y.shape, Seq2SeqDecoderBlock(8, 2)(x, torch.randn(2, 3, 8)).shape)
