"""A student's helper module for the models exercise: MiniGPT -> GPT-2 names, as regex rules."""

import re

import torch

# (pattern on MiniGPT's state_dict names, GPT-2 name, is a Conv1D weight: store transposed)
RULES = [
    (r"tok_emb\.weight", r"transformer.wte.weight", False),
    (r"pos_emb\.weight", r"transformer.wpe.weight", False),
    (r"blocks\.(\d+)\.ln([12])\.(weight|bias)", r"transformer.h.\1.ln_\2.\3", False),
    (r"blocks\.(\d+)\.attn\.o_proj\.weight", r"transformer.h.\1.attn.c_proj.weight", True),
    (r"blocks\.(\d+)\.attn\.o_proj\.bias", r"transformer.h.\1.attn.c_proj.bias", False),
    (r"blocks\.(\d+)\.ffn\.up\.weight", r"transformer.h.\1.mlp.c_fc.weight", True),
    (r"blocks\.(\d+)\.ffn\.up\.bias", r"transformer.h.\1.mlp.c_fc.bias", False),
    (r"blocks\.(\d+)\.ffn\.down\.weight", r"transformer.h.\1.mlp.c_proj.weight", True),
    (r"blocks\.(\d+)\.ffn\.down\.bias", r"transformer.h.\1.mlp.c_proj.bias", False),
    (r"ln_f\.(weight|bias)", r"transformer.ln_f.\1", False),
    (r"lm_head\.proj\.weight", r"lm_head.weight", False),
]
QKV = re.compile(r"blocks\.(\d+)\.attn\.([qkv])_proj\.(weight|bias)")


def rename(name: str) -> tuple[str, bool]:
    for pattern, target, transpose in RULES:
        if re.fullmatch(pattern, name):
            return re.sub(pattern, target, name), transpose
    raise KeyError(f"no GPT-2 name for {name!r}")


def gpt2_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for name, tensor in state.items():
        m = QKV.fullmatch(name)
        if m:
            qkv.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = tensor
            continue
        new, transpose = rename(name)
        out[new] = tensor.t() if transpose else tensor
    for (layer, kind), parts in qkv.items():
        # Conv1D (in, out): the transposed [q | k | v] weights side by side along the output axis
        fused = torch.cat([parts[c].t() if kind == "weight" else parts[c] for c in "qkv"], dim=-1)
        out[f"transformer.h.{layer}.attn.c_attn.{kind}"] = fused
    return {k: v.detach().contiguous().clone() for k, v in out.items()}
