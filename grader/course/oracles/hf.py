"""The Hugging Face side of the `hf` exercise's checks: BertModel, from_pretrained, AutoTokenizer.

This file is not imported by the grading process. The checks (grader/course/hf.py) send its
source to a worker of its own, forked from the run's zygote like a student's worker but
holding no student code: its only module is this one. What the student's functions returned
(a state dict, the bytes of an exported folder) reaches it as plain data over the wire, and
what it sends back (hidden states, logits, token ids, a few config values) is plain data the
checks compare. So transformers parses what a submission wrote inside the sandbox, and the
grading process never imports transformers (the zygote does once, shared by every worker:
about 150 MiB the grading process does not hold beside it).

Only JSON and model.safetensors are written (the checks filter the names), and every loader
is asked for safetensors and no remote code.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

BERT_BUFFERS = {"embeddings.position_ids", "embeddings.token_type_ids"}


def _transformers() -> Any:
    # offline, no cache folder, no tokenizer threads: set by the zygote before it imported them
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


class _Folder:
    """The files written into a fresh folder of the worker's scratch, removed afterwards."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="hf-")
        self.path = Path(self.tmp.name)
        for name, blob in files.items():
            (self.path / Path(name).name).write_bytes(blob)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: Any) -> None:
        self.tmp.cleanup()


def _bert(config: dict) -> Any:
    t = _transformers()
    cfg = t.BertConfig(vocab_size=config["vocab_size"], hidden_size=config["d_model"],
                       num_hidden_layers=config["n_layers"], num_attention_heads=config["n_heads"],
                       intermediate_size=config.get("d_ff") or 4 * config["d_model"],
                       max_position_embeddings=config["max_len"], type_vocab_size=1, hidden_act="gelu",
                       layer_norm_eps=1e-5, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return t.BertModel(cfg, add_pooling_layer=False).double().eval()


def bert_keys(config: dict) -> list[str]:
    """The keys of BertModel's state dict for these sizes (its buffers left out)."""
    return sorted(set(_bert(config).state_dict()) - BERT_BUFFERS)


def bert_hidden_states(config: dict, state: dict, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BertModel with ``state`` loaded strictly (float64): last_hidden_state [B, L, D].
    load_state_dict's RuntimeError travels back as the error of this call."""
    bert = _bert(config)
    bert.load_state_dict({k: torch.as_tensor(v).to(torch.float64).contiguous() for k, v in state.items()},
                         strict=True)
    with torch.no_grad():
        out = bert(input_ids=torch.as_tensor(ids), attention_mask=torch.as_tensor(mask).long())
    return out.last_hidden_state


def config_token_ids(files: dict[str, bytes], names: list[str]) -> dict[str, Any]:
    """AutoConfig.from_pretrained on the folder: the values of ``names`` (None when unset)."""
    t = _transformers()
    with _Folder(files) as folder:
        config = t.AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    return {n: getattr(config, n, None) for n in names}


def causal_lm(files: dict[str, bytes], ids: torch.Tensor, prompt: torch.Tensor, n: int) -> tuple:
    """AutoModelForCausalLM.from_pretrained on the folder (float64, safetensors only): its
    logits on ``ids`` and ``n`` greedy tokens generated after ``prompt``."""
    t = _transformers()
    with _Folder(files) as folder:  # float64, the weights' dtype (transformers 4 loads float32 by default)
        model = t.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, use_safetensors=True,
                                                       trust_remote_code=False, dtype=torch.float64)
    model.eval()
    prompt = torch.as_tensor(prompt)
    with torch.no_grad():
        logits = model(input_ids=torch.as_tensor(ids)).logits
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=int(n),
                             do_sample=False, num_beams=1)
    return logits, out


def tokenizer_round_trips(files: dict[str, bytes], texts: list[str]) -> list[tuple[list[int], str]]:
    """AutoTokenizer.from_pretrained on the folder: (encode(text), decode(those ids)) per text."""
    t = _transformers()
    with _Folder(files) as folder:
        tok = t.AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    out = []
    for text in texts:
        ids = [int(i) for i in tok.encode(text)]
        out.append((ids, tok.decode(ids, clean_up_tokenization_spaces=False)))
    return out
