"""`hf`, a whole file written from scratch by a student in their own style.

What differs: ``from models import *`` (star import, no ``__all__`` in models), ``__all__`` here,
``logging`` at import; to_hf_bert_state_dict renames ``model.state_dict()`` with an ordered
list of regular expressions (the tied ``lm_head`` dropped by prefix) and clones; its own
``bytes_to_unicode`` behind ``functools.lru_cache``; export_pretrained builds config.json with
``transformers.GPT2Config(...).to_json_string()`` (transformers imported inside the function),
the weights with ``safetensors.torch.save`` from contiguous tensors, the tokenizer in a helper
class; special tokens are inserted into the BPE vocabulary and added with ``single_word=False,
lstrip=False, rstrip=False`` spelled out; peft_lora gives peft ONE regular expression (a
``str`` target_modules, which peft full-matches) built from the escaped full names, with a
keyword-only ``adapter_name`` of its own default.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
from collections.abc import Iterable

import torch
from models import *  # noqa: F403 - MiniBERT, MiniGPT, to_hf_gpt2_state_dict
from peft import LoraConfig, get_peft_model
from safetensors.torch import save as save_safetensors
from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE
from torch import nn

__all__ = ["SPLIT_PATTERN", "bytes_to_unicode", "export_pretrained", "peft_lora", "to_hf_bert_state_dict"]

logging.getLogger(__name__).debug("hf exercise loaded")

SPLIT_PATTERN = r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+"

_BERT_RULES: list[tuple[str, str]] = [
    (r"^tok_emb\.", "embeddings.word_embeddings."),
    (r"^pos_emb\.", "embeddings.position_embeddings."),
    (r"^ln_emb\.", "embeddings.LayerNorm."),
    (r"^blocks\.(\d+)\.attn\.q_proj\.", r"encoder.layer.\1.attention.self.query."),
    (r"^blocks\.(\d+)\.attn\.k_proj\.", r"encoder.layer.\1.attention.self.key."),
    (r"^blocks\.(\d+)\.attn\.v_proj\.", r"encoder.layer.\1.attention.self.value."),
    (r"^blocks\.(\d+)\.attn\.o_proj\.", r"encoder.layer.\1.attention.output.dense."),
    (r"^blocks\.(\d+)\.ln1\.", r"encoder.layer.\1.attention.output.LayerNorm."),
    (r"^blocks\.(\d+)\.ffn\.up\.", r"encoder.layer.\1.intermediate.dense."),
    (r"^blocks\.(\d+)\.ffn\.down\.", r"encoder.layer.\1.output.dense."),
    (r"^blocks\.(\d+)\.ln2\.", r"encoder.layer.\1.output.LayerNorm."),
]


def to_hf_bert_state_dict(model: MiniBERT) -> dict[str, torch.Tensor]:  # noqa: F405
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if key.startswith("lm_head."):
            continue                                   # BertModel has no head
        for pattern, repl in _BERT_RULES:
            new, hits = re.subn(pattern, repl, key)
            if hits:
                out[new] = value.detach().clone()
                break
        else:
            raise ValueError(f"no BERT name for {key}")
    word = model.tok_emb.weight
    out["embeddings.token_type_embeddings.weight"] = word.new_zeros(1, word.shape[1]).detach()
    return out


@functools.lru_cache(maxsize=1)
def _byte_table() -> tuple[str, ...]:
    keep = set(range(33, 127)) | set(range(161, 173)) | set(range(174, 256))
    chars, extra = [], 256
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(extra))
            extra += 1
    return tuple(chars)


def bytes_to_unicode() -> dict[int, str]:
    return dict(enumerate(_byte_table()))


class _TokenizerBuilder:
    def __init__(self, vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]], special_tokens: list[str]):
        self.vocab, self.merges, self.specials = vocab, merges, list(special_tokens)

    @staticmethod
    def spell(b: bytes) -> str:
        table = _byte_table()
        return "".join(table[x] for x in b)

    def build(self) -> Tokenizer:
        special_bytes = {s.encode("utf-8"): s for s in self.specials}
        token_to_id = {special_bytes.get(b, self.spell(b)): i for i, b in self.vocab.items()}
        model = BPE(vocab=token_to_id, merges=[(self.spell(a), self.spell(b)) for a, b in self.merges],
                    fuse_unk=False)
        tok = Tokenizer(model)
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        tok.decoder = decoders.ByteLevel()
        if self.specials:
            tok.add_special_tokens([AddedToken(s, single_word=False, lstrip=False, rstrip=False, normalized=False,
                                               special=True) for s in self.specials])
        return tok


def export_pretrained(model: MiniGPT, vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]],  # noqa: F405
                      special_tokens: list[str] = []) -> dict[str, bytes]:  # noqa: B006
    from transformers import GPT2Config

    first = model.blocks[0]
    max_len = model.pos_emb.num_embeddings
    config = GPT2Config(
        vocab_size=model.tok_emb.num_embeddings, n_positions=max_len, n_embd=model.tok_emb.embedding_dim,
        n_layer=len(model.blocks), n_head=first.attn.n_heads, n_inner=first.ffn.up.out_features,
        activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        layer_norm_epsilon=model.ln_f.eps, bos_token_id=None, eos_token_id=None, pad_token_id=None,
        architectures=["GPT2LMHeadModel"],
    )
    tensors = {k: v.detach().contiguous() for k, v in to_hf_gpt2_state_dict(model).items()}  # noqa: F405
    tok_config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
                  "model_max_length": max_len}
    return {
        "config.json": config.to_json_string().encode("utf-8"),
        "model.safetensors": save_safetensors(tensors, metadata={"format": "pt"}),
        "tokenizer.json": _TokenizerBuilder(vocab, merges, special_tokens).build().to_str(pretty=True).encode("utf-8"),
        "tokenizer_config.json": json.dumps(tok_config).encode("utf-8"),
    }


def peft_lora(model: nn.Module, target_names: Iterable[str], r: int, alpha: float, *,
              adapter_name: str = "default") -> nn.Module:
    names = {target_names} if isinstance(target_names, str) else set(target_names)
    full = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and n.split(".")[-1] in names]
    if not full:
        raise ValueError(f"none of {sorted(names)} names an nn.Linear of the model")
    pattern = "|".join(re.escape(n) for n in full)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=f"(?:{pattern})", bias="none")
    return get_peft_model(copy.deepcopy(model), config, adapter_name=adapter_name)
