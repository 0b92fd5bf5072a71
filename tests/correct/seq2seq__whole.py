"""`seq2seq`, a whole file written from scratch by a student in their own style.

What differs: ``import blocks as B`` (a module alias, not ``from blocks import ...``);
``torch.manual_seed(0)`` and a ``logging`` call at import; ``__all__``; the blocks are
SUBCLASSES of the course's blocks (``EncoderLayer(B.EncoderBlock)``,
``DecoderLayer(B.Seq2SeqDecoderBlock)``) whose ``forward`` takes the source key mask [B, Ls]
and calls ``super().forward`` with it expanded; a mixin base class that owns the shared
embedding logic; MiniTransformer keeps its positions from an ``lru_cache``-d helper and its
limits in a ``dataclass``; forward takes ``*args, **kwargs``-free but keyword-friendly
arguments; greedy_translate is a ``while`` loop over a preallocated output with
``torch.inference_mode`` as a context; train_seq2seq reads a frozen dataclass of
hyper-parameters, pads with ``pad_sequence``, warms up linearly then decays, plain Adam,
gradient clipping, a debug ``print`` at the end; an ``if __name__ == "__main__":`` self-test.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import blocks as B
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

__all__ = ["BATCH_SIZE", "MiniTransformer", "greedy_translate", "train_seq2seq"]

torch.manual_seed(0)  # reproducible experiments in the notebook
logging.getLogger(__name__).info("seq2seq loaded")

BATCH_SIZE = 64


@functools.lru_cache(maxsize=64)
def _positions(n: int) -> Tensor:
    return torch.arange(n)


def _key_mask(src_mask: Tensor | None) -> Tensor | None:
    return None if src_mask is None else src_mask.bool().unsqueeze(1).unsqueeze(1)   # (B, 1, 1, Ls)


class EncoderLayer(B.EncoderBlock):
    """The course's encoder block, called with the source's key mask [B, Ls]."""

    def forward(self, x: Tensor, src_mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x, mask=_key_mask(src_mask))


class DecoderLayer(B.Seq2SeqDecoderBlock):
    """The course's seq2seq decoder block, called with the source's key mask [B, Ls]."""

    def forward(self, x: Tensor, memory: Tensor, src_mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return super().forward(x, memory, memory_mask=_key_mask(src_mask))


class _Embeds(nn.Module):
    """Word vectors plus the shared learned positions, with the length check."""

    pos_emb: nn.Embedding

    def _embed(self, table: nn.Embedding, ids: Tensor, side: str) -> Tensor:
        n = ids.shape[-1]
        if n > self.pos_emb.num_embeddings:
            raise ValueError(f"{side} length {n} is longer than max_len={self.pos_emb.num_embeddings}")
        return table(ids) + self.pos_emb(_positions(n).to(ids.device))


class MiniTransformer(_Embeds):
    def __init__(self, src_vocab: int, tgt_vocab: int, max_len: int, d_model: int, n_heads: int,
                 n_layers: int, d_ff: int | None = None) -> None:
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, d_model)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.encoder = nn.ModuleList([EncoderLayer(d_model, n_heads, d_ff, activation="gelu")
                                      for _ in range(n_layers)])
        self.enc_ln = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList([DecoderLayer(d_model, n_heads, d_ff, activation="gelu")
                                      for _ in range(n_layers)])
        self.dec_ln = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, tgt_vocab)

    def encode(self, src: Tensor, src_mask: Tensor | None = None) -> Tensor:
        h = self._embed(self.src_emb, src, "source")
        for layer in self.encoder:
            h = layer(h, src_mask)
        return self.enc_ln(h)

    def decode(self, tgt: Tensor, memory: Tensor, src_mask: Tensor | None = None) -> Tensor:
        h = self._embed(self.tgt_emb, tgt, "target")
        for layer in self.decoder:
            h = layer(h, memory, src_mask)
        return self.dec_ln(h)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None) -> Tensor:
        # check both lengths before any work
        for ids, side in ((src, "source"), (tgt, "target")):
            if ids.shape[-1] > self.pos_emb.num_embeddings:
                raise ValueError(f"{side} too long for max_len={self.pos_emb.num_embeddings}")
        return self.proj(self.decode(tgt, self.encode(src, src_mask), src_mask))


def greedy_translate(model: MiniTransformer, src: Tensor, bos_id: int, eos_id: int, max_new_tokens: int,
                     src_mask: Tensor | None = None) -> Tensor:
    limit = model.pos_emb.num_embeddings
    if max_new_tokens < 0 or max_new_tokens > limit:
        raise ValueError(f"max_new_tokens={max_new_tokens} must lie in [0, {limit}]")
    batch = src.shape[0]
    with torch.inference_mode():
        memory = model.encode(src, src_mask)
        out = torch.full((batch, 1 + max_new_tokens), eos_id, dtype=torch.long, device=src.device)
        out[:, 0] = bos_id
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
        t = 0
        while t < max_new_tokens and not bool(finished.all()):
            hidden = model.decode(out[:, : t + 1], memory, src_mask)
            nxt = model.proj(hidden[:, -1]).argmax(-1)
            nxt = torch.where(finished, torch.full_like(nxt, eos_id), nxt)
            out[:, t + 1] = nxt
            finished |= nxt == eos_id
            t += 1
        return out[:, : t + 1].clone()


@dataclasses.dataclass(frozen=True)
class _TrainConfig:
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    epochs: int = 3
    lr: float = 6e-3
    seed: int = 0
    warmup: float = 0.1


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def train_seq2seq(pairs: list[tuple[list[int], list[int]]], src_vocab: int, tgt_vocab: int, bos_id: int,
                  eos_id: int, pad_id: int = 0, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                  epochs: int = 3, lr: float = 6e-3, seed: int = 0) -> MiniTransformer:
    cfg = _TrainConfig(d_model, n_heads, n_layers, epochs, lr, seed)
    if not pairs:
        raise ValueError("no training pairs")
    src = pad_sequence([torch.tensor(x, dtype=torch.long) for x, _ in pairs], batch_first=True,
                       padding_value=pad_id)
    lengths = torch.tensor([len(x) for x, _ in pairs])
    src_mask = torch.arange(src.shape[1]) < lengths[:, None]
    dec_in = pad_sequence([torch.tensor([bos_id, *y], dtype=torch.long) for _, y in pairs], batch_first=True,
                          padding_value=pad_id)
    dec_out = pad_sequence([torch.tensor([*y, eos_id], dtype=torch.long) for _, y in pairs], batch_first=True,
                           padding_value=-100)
    n = len(pairs)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(cfg.seed)
        model = MiniTransformer(src_vocab, tgt_vocab, max(src.shape[1], dec_in.shape[1]), cfg.d_model,
                                cfg.n_heads, cfg.n_layers)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
        total = cfg.epochs * ((n + BATCH_SIZE - 1) // BATCH_SIZE)
        warm = max(1, int(cfg.warmup * total))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, total, warm))
        gen = torch.Generator().manual_seed(cfg.seed)
        model.train()
        last = float("nan")
        for _ in range(cfg.epochs):
            for idx in torch.randperm(n, generator=gen).split(BATCH_SIZE):
                logits = model(src[idx], dec_in[idx], src_mask[idx])
                loss = F.cross_entropy(logits.transpose(1, 2), dec_out[idx], ignore_index=-100)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                last = loss.item()
        print(f"[train_seq2seq] {total} steps, last loss {last:.4f}")
    finally:
        torch.random.set_rng_state(state)
    return model.eval()


if __name__ == "__main__":
    data = [([3 + i % 4, 3 + (i // 4) % 4], [3 + (i // 4) % 4, 3 + i % 4]) for i in range(64)]
    m = train_seq2seq(data, 7, 7, 1, 2, epochs=2)
    print(greedy_translate(m, torch.tensor([[3, 4]]), 1, 2, 3))
