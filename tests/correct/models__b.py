"""models written a second other way: both models register lm_head FIRST (the token embedding is
built as a local, tied into the head, then registered), so named_parameters() names the shared
weight lm_head.proj.weight (the state_dict still has both keys); there is no max_len attribute
(the limit is pos_emb.num_embeddings); position vectors come from pos_emb on a [1, L] arange;
MiniBERT passes no mask at all when every token is real and a [B, 1, 1, L] view otherwise,
running the blocks through nn.Sequential-free zip of names; MiniGPT.generate runs under
torch.inference_mode, keeps the new columns in a list, crops with narrow and concatenates once
at the end, picking each token with heads.sample_next_token through `import heads` (the module
keeps no name sample_next_token of its own: the reference's import of it is deleted at the end,
as in a models.py that only has `import heads`); to_hf_gpt2_state_dict walks
named_modules, fuses q/k/v with torch.vstack before one transpose, and makes lm_head.weight the
same copied tensor as transformer.wte.weight."""

import heads
import torch
from blocks import DecoderBlock, EncoderBlock
from torch import nn


def _check_len(model, L):
    limit = model.pos_emb.num_embeddings
    if L > limit:
        raise ValueError(f"{type(model).__name__}: {L} tokens but only {limit} positions (max_len)")


def _positions(model, ids):
    return model.pos_emb(torch.arange(ids.shape[-1], device=ids.device).unsqueeze(0))   # (1, L, D)


class MiniBERT(nn.Module):
    def __init__(self, vocab_size, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        tok_emb = nn.Embedding(vocab_size, d_model)
        self.lm_head = heads.LMHead(d_model, vocab_size, tied_weight=tok_emb.weight)
        self.blocks = nn.ModuleList([EncoderBlock(d_model, n_heads, d_ff, "gelu") for _ in range(n_layers)])
        self.ln_emb = nn.LayerNorm(d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.tok_emb = tok_emb

    def encode(self, ids, attention_mask=None):
        _check_len(self, ids.shape[1])
        x = self.ln_emb(self.tok_emb(ids) + _positions(self, ids))
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.bool().view(ids.shape[0], 1, 1, ids.shape[1])
        for i in range(len(self.blocks)):
            x = self.blocks[i](x, mask)
        return x

    def forward(self, ids, attention_mask=None):
        return self.lm_head(self.encode(ids, attention_mask))


class MiniGPT(nn.Module):
    def __init__(self, vocab_size, max_len, d_model, n_heads, n_layers, d_ff=None):
        super().__init__()
        tok_emb = nn.Embedding(vocab_size, d_model)
        self.lm_head = heads.LMHead(d_model, vocab_size, tok_emb.weight)
        self.ln_f = nn.LayerNorm(d_model)
        self.tok_emb = tok_emb
        self.blocks = nn.ModuleList()
        self.blocks.extend(DecoderBlock(d_model, n_heads, d_ff, activation="gelu") for _ in range(n_layers))
        self.pos_emb = nn.Embedding(max_len, d_model)

    def forward(self, ids):
        _check_len(self, ids.shape[1])
        x = self.tok_emb(ids) + _positions(self, ids)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))

    def generate(self, ids, max_new_tokens, temperature=0.0, top_k=None, generator=None):
        if max_new_tokens < 0:
            raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens}")
        window = self.pos_emb.num_embeddings
        with torch.inference_mode():
            seq, new = ids, []
            for _ in range(max_new_tokens):
                start = max(seq.shape[1] - window, 0)
                logits = self(seq.narrow(1, start, seq.shape[1] - start))[:, -1]
                nxt = heads.sample_next_token(logits, temperature, top_k, generator)
                new.append(nxt.unsqueeze(1))
                seq = torch.cat([seq, new[-1]], dim=1)
            return torch.cat([ids, *new], dim=1) if new else ids.clone()


_SIMPLE = {"ln1": "ln_1", "ln2": "ln_2", "attn.o_proj": "attn.c_proj",
           "ffn.up": "mlp.c_fc", "ffn.down": "mlp.c_proj"}
_CONV1D = {"attn.o_proj", "ffn.up", "ffn.down"}


def to_hf_gpt2_state_dict(model):
    out = {}
    with torch.no_grad():
        wte = model.tok_emb.weight.clone()
        out["transformer.wte.weight"] = wte
        out["transformer.wpe.weight"] = model.pos_emb.weight.clone()
        for name, module in model.named_modules():
            parts = name.split(".")
            if len(parts) < 2 or parts[0] != "blocks":
                continue
            i, rest = parts[1], ".".join(parts[2:])
            prefix = f"transformer.h.{i}."
            if rest == "attn":
                qkv = (module.q_proj, module.k_proj, module.v_proj)
                out[prefix + "attn.c_attn.weight"] = torch.vstack([m.weight for m in qkv]).t().contiguous()
                out[prefix + "attn.c_attn.bias"] = torch.hstack([m.bias for m in qkv]).clone()
            elif rest in _SIMPLE:
                w = module.weight.t() if rest in _CONV1D else module.weight
                out[prefix + _SIMPLE[rest] + ".weight"] = w.contiguous().clone()
                out[prefix + _SIMPLE[rest] + ".bias"] = module.bias.clone()
        out["transformer.ln_f.weight"] = model.ln_f.weight.clone()
        out["transformer.ln_f.bias"] = model.ln_f.bias.clone()
        out["lm_head.weight"] = wte
    return out


del sample_next_token  # noqa: F821 - the reference's `from heads import sample_next_token`
