"""MiniBERT and MiniGPT, written from scratch (this file replaces exercises/models.py).

Style differences from the reference, none of them outside the contract:
- ``import blocks as tb`` and ``from heads import *`` (sample_next_token and LMHead arrive
  through the star import);
- one ``_TiedLM`` base class for both models: it owns the embeddings, the length check, the
  position ids and the tied head; the models subclass it and call ``super().__init__``
  with keyword arguments; ``MiniGPT.__init__`` passes ``*args, **kwargs`` through;
- MiniBERT's layers are a ``_BertLayer`` subclass of ``EncoderBlock`` fixing gelu;
- ``blocks`` is a ``_Stack``, an ``nn.ModuleList`` subclass with a ``run`` method;
- ``generate`` is a ``while`` loop under ``torch.inference_mode``, its options
  temperature/top_k/generator also accepted by keyword only through ``**sampling``;
- the GPT-2 export walks ``model.state_dict()`` with a table of suffix renames;
- a dataclass config, ``__all__``, a print at import and a ``__main__`` self-test.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator

import blocks as tb
import torch
from heads import *  # noqa: F403 - LMHead, sample_next_token
from torch import Tensor, nn

__all__ = ["MiniBERT", "MiniGPT", "to_hf_gpt2_state_dict", "ModelConfig"]

print("models: whole-file submission imported", file=sys.stderr)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    max_len: int
    d_model: int
    n_heads: int
    n_layers: int
    d_ff: int | None = None


class _BertLayer(tb.EncoderBlock):
    """An EncoderBlock that is always gelu (BERT's activation)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None) -> None:
        super().__init__(d_model, n_heads, d_ff, activation="gelu")


class _Stack(nn.ModuleList):
    """The blocks, run one after another with the same keyword arguments."""

    def run(self, x: Tensor, **kwargs) -> Tensor:
        for layer in self:
            x = layer(x, **kwargs)
        return x


class _TiedLM(nn.Module):
    """Token + learned position embeddings and an LM head tied to the token embedding."""

    def __init__(self, *, cfg: ModelConfig, layer: type[nn.Module], final_norm: str | None) -> None:
        super().__init__()
        self.config = cfg
        self.max_len = cfg.max_len
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        if final_norm == "ln_emb":
            self.ln_emb = nn.LayerNorm(cfg.d_model)
        self.blocks = _Stack(self._layers(cfg, layer))
        if final_norm == "ln_f":
            self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = LMHead(cfg.d_model, cfg.vocab_size, tied_weight=self.tok_emb.weight)  # noqa: F405

    @staticmethod
    def _layers(cfg: ModelConfig, layer: type[nn.Module]) -> Iterator[nn.Module]:
        for _ in range(cfg.n_layers):
            if layer is _BertLayer:
                yield layer(cfg.d_model, cfg.n_heads, cfg.d_ff)
            else:
                yield layer(cfg.d_model, cfg.n_heads, cfg.d_ff, "gelu")

    def _embed(self, ids: Tensor) -> Tensor:
        n = ids.size(-1)
        if n > self.max_len:
            raise ValueError(f"{type(self).__name__}: input has {n} tokens, more than max_len={self.max_len}")
        where = torch.arange(n, dtype=torch.long, device=ids.device)
        return self.tok_emb(ids) + self.pos_emb(where)[None]


class MiniBERT(_TiedLM):
    """Encoder only: ln_emb(tok + pos) -> EncoderBlocks (padding keys hidden) -> tied head."""

    def __init__(self, vocab_size: int, max_len: int, d_model: int, n_heads: int, n_layers: int,
                 d_ff: int | None = None) -> None:
        cfg = ModelConfig(vocab_size, max_len, d_model, n_heads, n_layers, d_ff)
        super().__init__(cfg=cfg, layer=_BertLayer, final_norm="ln_emb")

    def encode(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        x = self.ln_emb(self._embed(ids))
        keys = None if attention_mask is None else attention_mask.bool().view(ids.shape[0], 1, 1, ids.shape[1])
        return self.blocks.run(x, mask=keys)

    def forward(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        hidden = self.encode(ids, attention_mask=attention_mask)
        return self.lm_head(hidden)


class MiniGPT(_TiedLM):
    """Decoder only: tok + pos -> causal DecoderBlocks -> ln_f -> tied head."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(cfg=ModelConfig(*args, **kwargs), layer=tb.DecoderBlock, final_norm="ln_f")

    def forward(self, ids: Tensor) -> Tensor:
        return self.lm_head(self.ln_f(self.blocks.run(self._embed(ids))))

    @torch.inference_mode()
    def generate(self, ids: Tensor, max_new_tokens: int, temperature: float = 0.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be non-negative, got {max_new_tokens}")
        out = ids.clone()
        remaining = max_new_tokens
        while remaining:
            window = out[:, max(0, out.shape[1] - self.max_len):]
            last = self.forward(window)[:, -1]
            nxt = sample_next_token(last, temperature, top_k, generator)  # noqa: F405
            out = torch.cat((out, nxt.reshape(-1, 1).to(out.dtype)), dim=-1)
            remaining -= 1
        return out


# MiniGPT suffix -> (GPT-2 suffix, stored transposed as a Conv1D weight)
_RENAMES: dict[str, tuple[str, bool]] = {
    "ln1.weight": ("ln_1.weight", False),
    "ln1.bias": ("ln_1.bias", False),
    "ln2.weight": ("ln_2.weight", False),
    "ln2.bias": ("ln_2.bias", False),
    "attn.o_proj.weight": ("attn.c_proj.weight", True),
    "attn.o_proj.bias": ("attn.c_proj.bias", False),
    "ffn.up.weight": ("mlp.c_fc.weight", True),
    "ffn.up.bias": ("mlp.c_fc.bias", False),
    "ffn.down.weight": ("mlp.c_proj.weight", True),
    "ffn.down.bias": ("mlp.c_proj.bias", False),
}


def to_hf_gpt2_state_dict(model: MiniGPT) -> dict[str, Tensor]:
    """MiniGPT weights under transformers.GPT2LMHeadModel's names and layouts."""
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    out: dict[str, Tensor] = {
        "transformer.wte.weight": sd["tok_emb.weight"],
        "transformer.wpe.weight": sd["pos_emb.weight"],
    }
    for i in range(len(model.blocks)):
        src, dst = f"blocks.{i}.", f"transformer.h.{i}."
        for ours, (theirs, transpose) in _RENAMES.items():
            t = sd[src + ours]
            out[dst + theirs] = t.t() if transpose else t
        for kind in ("weight", "bias"):
            fused = torch.cat([sd[f"{src}attn.{p}_proj.{kind}"] for p in "qkv"], dim=0)
            out[f"{dst}attn.c_attn.{kind}"] = fused.t() if kind == "weight" else fused
    out["transformer.ln_f.weight"] = sd["ln_f.weight"]
    out["transformer.ln_f.bias"] = sd["ln_f.bias"]
    out["lm_head.weight"] = sd["lm_head.proj.weight"]
    return {k: v.contiguous().clone() for k, v in out.items()}


if __name__ == "__main__":
    torch.manual_seed(0)
    gpt = MiniGPT(vocab_size=11, max_len=6, d_model=8, n_heads=2, n_layers=2)
    print(gpt.generate(torch.randint(0, 11, (2, 3)), 5).shape)
    bert = MiniBERT(11, 6, 8, 2, 1)
    print(bert(torch.randint(0, 11, (2, 6)), torch.ones(2, 6, dtype=torch.bool)).shape)
    print(sorted(to_hf_gpt2_state_dict(gpt))[:4])
