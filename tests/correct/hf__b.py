"""`hf` written a second other way (neither the reference nor tests/test_oracle_hf.py's
ANOTHER_WAY): to_hf_bert_state_dict walks ``named_parameters()`` with a table of name
fragments (``str.replace`` on the dotted names, the tied lm_head skipped by identity), adds the
``embeddings.position_ids`` buffer older BertModels keep, and copies with ``torch.clone``;
export_pretrained writes a minimal config.json by hand (GPT-2's defaults for everything the
contract does not set, plus the legacy ``n_ctx``), the weights through ``safetensors.numpy``
from contiguous numpy arrays, a tokenizer built with the ``tokenizers`` API whose special tokens
are added as plain strings (``add_special_tokens(["..."])``, special and not normalised by
default), ``trim_offsets=False`` on the byte-level pre-tokenizer, and a tokenizer_config.json
with extra harmless keys (padding side, model input names); peft_lora gives peft the BARE
names that name some nn.Linear plus ``exclude_modules`` for the other layers of those names,
under an adapter of its own name ("course", not "default"), and lists modules through a helper."""

import copy
import json

import numpy as np
import torch
from models import to_hf_gpt2_state_dict
from peft import LoraConfig, get_peft_model
from safetensors.numpy import save as save_numpy
from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE
from torch import nn

_FRAGMENTS = (
    ("tok_emb.", "embeddings.word_embeddings."),
    ("pos_emb.", "embeddings.position_embeddings."),
    ("ln_emb.", "embeddings.LayerNorm."),
    ("blocks.", "encoder.layer."),
    (".attn.q_proj.", ".attention.self.query."),
    (".attn.k_proj.", ".attention.self.key."),
    (".attn.v_proj.", ".attention.self.value."),
    (".attn.o_proj.", ".attention.output.dense."),
    (".ln1.", ".attention.output.LayerNorm."),
    (".ln2.", ".output.LayerNorm."),
    (".ffn.up.", ".intermediate.dense."),
    (".ffn.down.", ".output.dense."),
)


def to_hf_bert_state_dict(model):
    head = model.lm_head.proj.weight
    out = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if p is head and name.startswith("lm_head"):
            continue
        for ours, theirs in _FRAGMENTS:
            if ours.startswith("."):
                name = name.replace(ours, theirs)
            elif name.startswith(ours):
                name = theirs + name[len(ours):]
        out[name] = torch.clone(p.detach())
    D = model.tok_emb.embedding_dim
    out["embeddings.token_type_embeddings.weight"] = torch.zeros(1, D, dtype=head.dtype)
    out["embeddings.position_ids"] = torch.arange(model.pos_emb.num_embeddings).unsqueeze(0)
    return out


def _byte_chars():
    kept = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table, extra = {}, 256
    for b in range(256):
        if b in kept:
            table[b] = chr(b)
        else:
            table[b] = chr(extra)
            extra += 1
    return table


def export_pretrained(model, vocab, merges, special_tokens=[]):  # noqa: B006 - the contract's signature
    first = model.blocks[0]
    config = {
        "model_type": "gpt2",
        "vocab_size": int(model.tok_emb.weight.shape[0]),
        "n_positions": int(model.pos_emb.weight.shape[0]),
        "n_ctx": int(model.pos_emb.weight.shape[0]),
        "n_embd": int(model.tok_emb.weight.shape[1]),
        "n_layer": len(model.blocks),
        "n_head": int(first.attn.n_heads),
        "n_inner": int(first.ffn.up.weight.shape[0]),
        "activation_function": "gelu",
        "resid_pdrop": 0, "embd_pdrop": 0, "attn_pdrop": 0, "summary_first_dropout": 0,
        "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,
    }
    arrays = {k: np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in to_hf_gpt2_state_dict(model).items()}

    chars = _byte_chars()
    spell = lambda raw: "".join(chars[b] for b in raw)  # noqa: E731
    special_ids = {}
    for s in special_tokens:
        matches = [i for i, b in vocab.items() if b == s.encode("utf-8")]
        special_ids[s] = matches[0]
    special_bytes = {s.encode("utf-8") for s in special_tokens}
    table = {spell(b): int(i) for i, b in sorted(vocab.items()) if b not in special_bytes}
    table.update(special_ids)
    tok = Tokenizer(BPE(table, [(spell(a), spell(b)) for a, b in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=Regex(SPLIT_PATTERN), behavior="isolated", invert=False),  # noqa: F821
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    if special_tokens:
        tok.add_special_tokens(list(special_tokens))

    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
                        "model_max_length": config["n_positions"], "padding_side": "right",
                        "model_input_names": ["input_ids", "attention_mask"]}
    return {
        "tokenizer_config.json": json.dumps(tokenizer_config).encode("utf-8"),
        "tokenizer.json": tok.to_str(pretty=False).encode("utf-8"),
        "model.safetensors": save_numpy(arrays, metadata={"format": "pt"}),
        "config.json": json.dumps(config, sort_keys=True).encode("utf-8"),
    }


def _named(model):
    return list(model.named_modules())


def peft_lora(model, target_names, r, alpha):
    wanted = [target_names] if isinstance(target_names, str) else list(target_names)
    modules = _named(model)
    bare = sorted({n.split(".")[-1] for n, m in modules if isinstance(m, nn.Linear) and n.split(".")[-1] in wanted})
    if not bare:
        raise ValueError(f"peft_lora: no nn.Linear is named any of {wanted}")
    others = [n for n, m in modules if n and n.split(".")[-1] in bare and not isinstance(m, nn.Linear)]
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=bare, exclude_modules=others or None,
                        lora_dropout=0.0, bias="none")
    return get_peft_model(copy.deepcopy(model), config, adapter_name="course")
