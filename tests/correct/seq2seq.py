"""`seq2seq` written another way: MiniTransformer adds the positions by slicing the shared
position table (``pos_emb.weight[:L]``), keeps no ``max_len`` attribute (it asks
``pos_emb.num_embeddings``), shares one helper for both stacks and builds the key mask with
``unsqueeze``; greedy_translate preallocates the whole output filled with ``eos_id`` and writes
each step into it, finishing rows with ``torch.where``, under ``torch.inference_mode``;
train_seq2seq pads with a helper module, saves and restores torch's random state by hand,
trains with plain Adam, batches of 32, a linear warm-up then cosine decay (LambdaLR),
gradient clipping and a loss summed over the counted target tokens divided by their number."""

import math

import torch
import torch.nn.functional as F
from blocks import EncoderBlock, Seq2SeqDecoderBlock
from helpers_seq2seq import pad_rows
from torch import nn


class MiniTransformer(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, d_model)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.encoder = nn.ModuleList([EncoderBlock(d_model, n_heads, d_ff, "gelu") for _ in range(n_layers)])
        self.enc_ln = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList([Seq2SeqDecoderBlock(d_model, n_heads, d_ff, "gelu")
                                      for _ in range(n_layers)])
        self.dec_ln = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, tgt_vocab)

    def _embed(self, table: nn.Embedding, ids: torch.Tensor, side: str) -> torch.Tensor:
        length, limit = ids.size(-1), self.pos_emb.num_embeddings
        if length > limit:
            raise ValueError(f"the {side} has {length} tokens, more than max_len = {limit}")
        return table(ids) + self.pos_emb.weight[:length]

    @staticmethod
    def _key_mask(src_mask):
        return None if src_mask is None else src_mask.unsqueeze(1).unsqueeze(1)   # (B, 1, 1, Ls)

    def encode(self, src, src_mask=None):
        h = self._embed(self.src_emb, src, "source")
        keys = self._key_mask(src_mask)
        for layer in self.encoder:
            h = layer(h, keys)
        return self.enc_ln(h)

    def decode(self, tgt, memory, src_mask=None):
        h = self._embed(self.tgt_emb, tgt, "target")
        keys = self._key_mask(src_mask)
        for layer in self.decoder:
            h = layer(h, memory, keys)
        return self.dec_ln(h)

    def forward(self, src, tgt, src_mask=None):
        # check both lengths before any work
        for ids, side in ((src, "source"), (tgt, "target")):
            if ids.size(-1) > self.pos_emb.num_embeddings:
                raise ValueError(f"the {side} is longer than max_len = {self.pos_emb.num_embeddings}")
        return self.proj(self.decode(tgt, self.encode(src, src_mask), src_mask))


def greedy_translate(model, src, bos_id, eos_id, max_new_tokens, src_mask=None):
    limit = model.pos_emb.num_embeddings
    if max_new_tokens < 0 or max_new_tokens > limit:
        raise ValueError(f"max_new_tokens = {max_new_tokens} is outside [0, {limit}]")
    batch = src.size(0)
    out = torch.full((batch, max_new_tokens + 1), eos_id, dtype=torch.long, device=src.device)
    out[:, 0] = bos_id
    alive = torch.ones(batch, dtype=torch.bool, device=src.device)
    written = 0
    with torch.inference_mode():
        memory = model.encode(src, src_mask)
        for step in range(1, max_new_tokens + 1):
            hidden = model.decode(out[:, :step], memory, src_mask)
            best = model.proj(hidden[:, -1]).argmax(-1)
            out[:, step] = torch.where(alive, best, torch.full_like(best, eos_id))
            alive &= out[:, step] != eos_id
            written = step
            if not bool(alive.any()):
                break
    return out[:, :written + 1].clone()


def train_seq2seq(pairs, src_vocab, tgt_vocab, bos_id, eos_id, pad_id=0, d_model=64, n_heads=4, n_layers=2,
                  epochs=6, lr=2e-3, seed=0):
    if len(pairs) == 0 or min(min(len(x), len(y)) for x, y in pairs) == 0:
        raise ValueError("train_seq2seq needs non-empty (source, target) pairs")
    src, src_mask = pad_rows([list(x) for x, _ in pairs], pad_id)
    dec_in, _ = pad_rows([[bos_id, *y] for _, y in pairs], pad_id)
    dec_out, counted = pad_rows([[*y, eos_id] for _, y in pairs], pad_id)
    max_len = max(src.size(1), dec_in.size(1))

    saved = torch.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = MiniTransformer(src_vocab, tgt_vocab, max_len, d_model, n_heads, n_layers)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        batch_size = 32
        per_epoch = math.ceil(len(pairs) / batch_size)
        total, warmup = epochs * per_epoch, per_epoch // 2 + 1

        def schedule(step):
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(pairs))
            for start in range(0, len(pairs), batch_size):
                idx = order[start:start + batch_size]
                logits = model(src[idx], dec_in[idx], src_mask[idx])
                token_loss = F.cross_entropy(logits.transpose(1, 2), dec_out[idx], reduction="none")
                keep = counted[idx]
                loss = (token_loss * keep).sum() / keep.sum()
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
    finally:
        torch.set_rng_state(saved)
    return model.eval()
