"""`seq2seq` written a second other way: MiniTransformer creates its submodules in another order
(proj and the decoder first), keeps the positions 0..max_len-1 in a non-persistent Long buffer
(not in the state_dict), a ``__repr__``-visible ``extra_repr`` and a helper that checks lengths;
the source key mask is handed to the blocks already expanded to every query
([B, 1, Lq, Ls], for the encoder and for the cross-attention) instead of [B, 1, 1, Ls];
greedy_translate projects every position and keeps the last (``proj(hidden)[:, -1]``), derives
the finished rows from the tokens written so far, collects the columns in a list and stacks
them, under ``torch.no_grad`` as a context; train_seq2seq builds the model without touching
torch's random state (inside ``fork_rng``, unseeded) and re-initialises it from its own
``torch.Generator`` (Xavier-uniform matrices as nn.Transformer does, N(0, 1) embeddings, zero
biases), chooses a larger max_len than it needs (32), draws the batches with a ``DataLoader``
over a ``TensorDataset`` shuffled by a generator, pads the targets with ``pad_id`` and
``ignore_index=pad_id`` (the stub's way) with label smoothing 0.05, Adam with the original
Transformer's betas (0.9, 0.98), eps 1e-9 and a warm-up then inverse-square-root schedule,
batches of 50."""

import math

import torch
import torch.nn.functional as F
from blocks import EncoderBlock, Seq2SeqDecoderBlock
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class MiniTransformer(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        self.proj = nn.Linear(d_model, tgt_vocab)
        self.dec_ln = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList()
        for _ in range(n_layers):
            self.decoder.append(Seq2SeqDecoderBlock(d_model, n_heads, d_ff=d_ff, activation="gelu"))
        self.enc_ln = nn.LayerNorm(d_model)
        self.encoder = nn.ModuleList()
        for _ in range(n_layers):
            self.encoder.append(EncoderBlock(d_model, n_heads, d_ff=d_ff, activation="gelu"))
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.tgt_emb = nn.Embedding(tgt_vocab, d_model)
        self.src_emb = nn.Embedding(src_vocab, d_model)
        self.register_buffer("positions", torch.arange(max_len), persistent=False)
        self.sizes = (src_vocab, tgt_vocab, max_len, d_model, n_heads, n_layers)

    def extra_repr(self):
        return "src_vocab={}, tgt_vocab={}, max_len={}, d_model={}, n_heads={}, n_layers={}".format(*self.sizes)

    def _positions(self, length, what):
        if length > self.positions.numel():
            raise ValueError(f"{what} of length {length} is longer than max_len={self.positions.numel()}")
        return self.pos_emb(self.positions[:length])                           # (L, D)

    @staticmethod
    def _keys(src_mask, n_queries):
        if src_mask is None:
            return None
        B, Ls = src_mask.shape
        return src_mask.reshape(B, 1, 1, Ls).expand(B, 1, n_queries, Ls)       # every query row

    def encode(self, src, src_mask=None):
        h = self.src_emb(src) + self._positions(src.shape[1], "source")
        keys = self._keys(src_mask, src.shape[1])
        for block in self.encoder:
            h = block(h, mask=keys)
        return self.enc_ln(h)

    def decode(self, tgt, memory, src_mask=None):
        h = self.tgt_emb(tgt) + self._positions(tgt.shape[1], "target")
        keys = self._keys(src_mask, tgt.shape[1])
        for block in self.decoder:
            h = block(h, memory, memory_mask=keys)
        return self.dec_ln(h)

    def forward(self, src, tgt, src_mask=None):
        memory = self.encode(src, src_mask)
        return self.proj(self.decode(tgt, memory, src_mask))


def greedy_translate(model, src, bos_id, eos_id, max_new_tokens, src_mask=None):
    limit = model.pos_emb.num_embeddings
    if max_new_tokens < 0 or max_new_tokens > limit:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be between 0 and max_len={limit}")
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        columns = [torch.full((src.shape[0],), bos_id, dtype=torch.long, device=src.device)]
        for _ in range(max_new_tokens):
            written = torch.stack(columns, dim=1)                               # (B, t)
            finished = (written[:, 1:] == eos_id).any(dim=1)
            best = model.proj(model.decode(written, memory, src_mask))[:, -1].argmax(dim=-1)
            nxt = torch.where(finished, torch.full_like(best, eos_id), best)
            columns.append(nxt)
            if bool((finished | (nxt == eos_id)).all()):
                break
    return torch.stack(columns, dim=1)


def _init_weights(model, gen):
    for name, p in model.named_parameters():
        if name.endswith("emb.weight"):
            nn.init.normal_(p, 0.0, 1.0, generator=gen)
        elif p.dim() > 1:
            nn.init.xavier_uniform_(p, generator=gen)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
        else:
            nn.init.ones_(p)                                                   # LayerNorm gains


def train_seq2seq(pairs, src_vocab, tgt_vocab, bos_id, eos_id, pad_id=0, d_model=64, n_heads=4, n_layers=2,
                  epochs=12, lr=1e-3, seed=0):
    if len(pairs) == 0 or any(not x or not y for x, y in pairs):
        raise ValueError("train_seq2seq needs a non-empty list of non-empty (source, target) pairs")
    ls = max(len(x) for x, _ in pairs)
    lt = max(len(y) for _, y in pairs) + 1
    src = torch.tensor([list(x) + [pad_id] * (ls - len(x)) for x, _ in pairs], dtype=torch.long)
    src_mask = torch.tensor([[True] * len(x) + [False] * (ls - len(x)) for x, _ in pairs])
    dec_in = torch.tensor([[bos_id, *y] + [pad_id] * (lt - 1 - len(y)) for _, y in pairs], dtype=torch.long)
    dec_out = torch.tensor([[*y, eos_id] + [pad_id] * (lt - 1 - len(y)) for _, y in pairs], dtype=torch.long)

    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):            # the constructor's own init draws from a copy
        model = MiniTransformer(src_vocab, tgt_vocab, max(32, ls, lt), d_model, n_heads, n_layers)
    _init_weights(model, gen)
    batches = DataLoader(TensorDataset(src, src_mask, dec_in, dec_out), batch_size=50, shuffle=True,
                         generator=gen)
    warmup = max(1, len(batches))
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min((step + 1) / warmup, math.sqrt(warmup / (step + 1))))
    model.train()
    for _ in range(epochs):
        for s, m, tin, tout in batches:
            logits = model(s, tin, m)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tout.reshape(-1),
                                   ignore_index=pad_id, label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()
