"""Oracle tests for solutions/hf.py (to_hf_bert_state_dict, export_pretrained, peft_lora) and
for the data and grading of the `hf` exercise.

Oracles nobody on the team wrote, each skipped with the reason when its package is missing:
- ``transformers.BertModel`` built from the contract's config and loaded with
  ``to_hf_bert_state_dict`` (hidden states vs the reference MiniBERT, with padding);
- ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained`` on a folder written from
  ``export_pretrained``'s files (logits, greedy ``generate`` with and without the KV cache);
- ``tiktoken.Encoding`` built from the same ranks and split pattern (section 14 names it
  the oracle of ``bpe_encode``): the exported tokenizer, the shipped ids of
  ``grader/data/hf.npz`` and the texts the checks compose all agree with it, on arbitrary
  Unicode too;
- ``peft`` against the reference ``apply_lora`` (exercise lora) with the same A and B:
  trainable count, outputs, merged weights.
Plus the grading: a correct submission written another way gets full marks, and without
the optional packages the exercise is skipped with what to install while others grade.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

HF_PACKAGES = ("transformers", "peft", "safetensors", "tokenizers")
MISSING = [p for p in HF_PACKAGES if importlib.util.find_spec(p) is None]
needs_hf = pytest.mark.skipif(bool(MISSING), reason=f"needs the hf extra (missing: {', '.join(MISSING)})")
needs_tiktoken = pytest.mark.skipif(importlib.util.find_spec("tiktoken") is None,
                                    reason="needs tiktoken (the oracle of bpe_encode)")


def _data():
    from grader.course.hf import tokenizer_data

    return tokenizer_data()


def _tiktoken(specials: bool):
    import tiktoken

    from grader.course.hf import SPLIT_PATTERN

    d = _data()
    special_ids = {s: 256 + i for i, s in enumerate(d.specials)}
    ranks = {b: i for i, b in d.vocab.items() if i not in special_ids.values()}
    return tiktoken.Encoding("course", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks,
                             special_tokens=special_ids if specials else {})


def _randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * 0.5)
    return model


def _folder(files: dict[str, bytes]) -> tempfile.TemporaryDirectory:
    tmp = tempfile.TemporaryDirectory()
    for name, blob in files.items():
        Path(tmp.name, name).write_bytes(blob)
    return tmp


# --- to_hf_bert_state_dict ------------------------------------------------------------------------


@needs_hf
@pytest.mark.parametrize("dtype,d_ff", [(torch.float64, 20), (torch.float64, None), (torch.float32, 7)])
def test_bert_model_gives_encode(dtype, d_ff):
    import hf
    import models
    from transformers import BertConfig, BertModel

    V, ML, D, H, N = 13, 9, 12, 3, 2
    torch.manual_seed(0)
    bert = _randomize(models.MiniBERT(V, ML, D, H, N, d_ff).to(dtype), 1).eval()
    config = BertConfig(vocab_size=V, hidden_size=D, num_hidden_layers=N, num_attention_heads=H,
                        intermediate_size=d_ff or 4 * D, max_position_embeddings=ML, type_vocab_size=1,
                        hidden_act="gelu", layer_norm_eps=1e-5, hidden_dropout_prob=0,
                        attention_probs_dropout_prob=0)
    theirs = BertModel(config, add_pooling_layer=False).to(dtype).eval()
    sd = hf.to_hf_bert_state_dict(bert)
    assert set(sd) == set(theirs.state_dict())
    assert all(v.dtype == dtype for v in sd.values())
    theirs.load_state_dict(sd, strict=True)
    ids = torch.randint(V, (3, ML), generator=torch.Generator().manual_seed(2))
    mask = torch.arange(ML)[None, :] < torch.tensor([ML, 4, 1])[:, None]
    with torch.no_grad():
        got = theirs(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        want = bert.encode(ids, mask)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    assert torch.allclose(got[mask], want[mask], atol=tol, rtol=tol)
    # a copy: changing the export does not touch the model
    sd["embeddings.word_embeddings.weight"].zero_()
    assert bert.tok_emb.weight.abs().sum() > 0


# --- export_pretrained: the model ------------------------------------------------------------------


@needs_hf
@pytest.mark.parametrize("d_ff", [20, None])
def test_exported_folder_loads_and_generates_like_minigpt(d_ff):
    import hf
    import models
    from transformers import AutoConfig, AutoModelForCausalLM

    d = _data()
    V, ML, D, H, N = len(d.vocab), 12, 12, 3, 2
    torch.manual_seed(0)
    gpt = _randomize(models.MiniGPT(V, ML, D, H, N, d_ff).double(), 3).eval()
    files = hf.export_pretrained(gpt, d.vocab, d.merges, d.specials)
    assert set(files) == {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
    assert all(isinstance(v, bytes) for v in files.values())
    with _folder(files) as folder:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        theirs = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, use_safetensors=True,
                                                      dtype="auto").eval()  # the stored dtype
    assert type(theirs).__name__ == "GPT2LMHeadModel"
    assert config.n_inner == (d_ff or 4 * D)
    assert config.bos_token_id is None and config.eos_token_id is None and config.pad_token_id is None
    assert theirs.dtype == torch.float64
    ids = torch.randint(V, (2, ML), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert torch.allclose(theirs(ids).logits, gpt(ids), atol=1e-10, rtol=1e-10)
        prompt = ids[:, :3]
        want = gpt.generate(prompt, ML - 3)
        for cache in (True, False):
            got = theirs.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=ML - 3,
                                  do_sample=False, use_cache=cache)
            assert torch.equal(got, want)


# --- export_pretrained: the tokenizer --------------------------------------------------------------


@needs_hf
@needs_tiktoken
def test_shipped_ids_are_tiktokens():
    d = _data()
    with_specials, plain = _tiktoken(True), _tiktoken(False)
    for text, ids in d.special_texts:
        assert with_specials.encode(text, allowed_special="all") == ids, text
    for text, ids in d.plain_texts:
        assert plain.encode(text, disallowed_special=()) == ids, text
    for piece, kind, ids in d.pieces:
        assert plain.encode(piece, disallowed_special=()) == ids, piece
        assert kind == (2 if piece.isspace() else 1 if piece.startswith(" ") else 0) and piece != " "
    assert len(set(d.vocab.values())) == len(d.vocab)                # no two ids with the same bytes
    assert [d.vocab[256 + i] for i in range(len(d.specials))] == [s.encode() for s in d.specials]


@needs_tiktoken
def test_composed_texts_split_into_their_pieces():
    """The checks' random texts: tiktoken encodes them to the ids the checks expect."""
    from grader.course.hf import compose

    d = _data()
    rng = np.random.default_rng(0)
    for specials in (False, True):
        enc = _tiktoken(specials)
        for _ in range(400):
            text, ids = compose(rng, d, int(rng.integers(1, 16)), specials)
            assert enc.encode(text, allowed_special="all" if specials else set(), disallowed_special=()) == ids


@pytest.fixture(scope="module")
def exported_tokenizers():
    if MISSING:
        pytest.skip(f"needs the hf extra (missing: {', '.join(MISSING)})")
    import hf
    import models
    from transformers import AutoTokenizer

    d = _data()
    gpt = models.MiniGPT(len(d.vocab), 8, 8, 2, 1)
    out = {}
    for specials in (False, True):
        with _folder(hf.export_pretrained(gpt, d.vocab, d.merges, d.specials if specials else [])) as folder:
            out[specials] = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return out


WORDS = ["the", " model", "模型", "北京", " 北纬", "，", "。", "<|end|>", "<|user|>", "<|", "|>", "🙂", "x",
         "Hugging Face", " from_pretrained", "123", "e\u0301"]
SPACES = [" ", "  ", "\n", "\t", "\r\n", "\x1c", "\x1f", "\u3000", "\u00a0", "\u2028", "\x85", "\x0b"]
texts = st.lists(st.sampled_from(WORDS + SPACES) | st.text(max_size=4), max_size=12).map("".join)


@needs_hf
@needs_tiktoken
@settings(max_examples=300, deadline=None)
@given(texts)
def test_exported_tokenizer_is_tiktoken_on_arbitrary_text(exported_tokenizers, text):
    """Python's re and the Rust engines split alike (\\x1c-\\x1f spelled out); special tokens are
    matched before splitting; decoding gives the text back (no lone surrogates in UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    for specials, tok in exported_tokenizers.items():
        enc = _tiktoken(specials)
        want = enc.encode(text, allowed_special="all" if specials else set(), disallowed_special=())
        got = tok.encode(text)
        assert got == want
        assert tok.decode(got, clean_up_tokenization_spaces=False) == text


@needs_hf
def test_exported_tokenizer_is_a_tokenizers_bpe():
    import hf
    import models
    from tokenizers import Tokenizer

    d = _data()
    files = hf.export_pretrained(models.MiniGPT(len(d.vocab), 8, 8, 2, 1), d.vocab, d.merges, d.specials)
    tok = Tokenizer.from_str(files["tokenizer.json"].decode())
    assert tok.get_vocab_size() == len(d.vocab)
    for i, s in enumerate(d.specials):
        assert tok.token_to_id(s) == 256 + i
    tree = json.loads(files["tokenizer.json"])
    assert tree["model"]["type"] == "BPE" and tree["decoder"]["type"] == "ByteLevel"
    assert json.loads(files["tokenizer_config.json"])["tokenizer_class"] == "PreTrainedTokenizerFast"


# --- peft_lora --------------------------------------------------------------------------------------


@needs_hf
@pytest.mark.parametrize("cls,targets,r,alpha", [("MiniGPT", ["q_proj", "v_proj", "tok_emb"], 2, 4.0),
                                                  ("MiniBERT", ["up", "attn", "o_proj"], 3, 1.5),
                                                  ("MiniGPT", "down", 1, 1.0)])
def test_peft_matches_apply_lora(cls, targets, r, alpha):
    import hf
    import lora
    import models

    torch.manual_seed(0)
    base = _randomize(getattr(models, cls)(11, 8, 12, 3, 2, 10).double(), 5)
    before = copy.deepcopy(base.state_dict())
    theirs = hf.peft_lora(base, targets, r, alpha)
    ours = lora.apply_lora(copy.deepcopy(base), targets, r, alpha)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())      # not modified
    assert all(p.requires_grad for p in base.parameters())
    assert lora.count_trainable_parameters(theirs) == lora.count_trainable_parameters(ours)
    # the same A and B in both
    g = torch.Generator().manual_seed(6)
    wrapped = {n: m for n, m in ours.named_modules() if isinstance(m, lora.LoRALinear)}
    with torch.no_grad():
        for name, layer in wrapped.items():
            layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=g, dtype=torch.float64))
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g, dtype=torch.float64))
            peft_layer = theirs.get_submodule("base_model.model." + name)
            peft_layer.lora_A["default"].weight.copy_(layer.lora_A)
            peft_layer.lora_B["default"].weight.copy_(layer.lora_B)
    ids = torch.randint(11, (2, 8), generator=g)
    with torch.no_grad():
        assert torch.allclose(theirs(ids), ours(ids), atol=1e-10, rtol=1e-10)
    for layer in wrapped.values():
        layer.merge()
    merged = theirs.merge_and_unload().state_dict()
    for name, layer in wrapped.items():
        assert torch.allclose(merged[name + ".weight"], layer.base.weight, atol=1e-12)


@needs_hf
def test_peft_without_a_linear_match_is_invalid():
    import hf
    import models

    gpt = models.MiniGPT(11, 8, 12, 3, 1)
    for targets in (["tok_emb"], ["nothing"], []):
        with pytest.raises(ValueError):
            hf.peft_lora(gpt, targets, 2, 2.0)


# --- grading -------------------------------------------------------------------------------------------

ANOTHER_WAY = r'''
"""A correct hf.py written another way: renamed state_dict keys, transformers' own config,
a tokenizer.json written as JSON by hand, a regular expression for peft's target_modules."""

import copy
import json
import re

import torch
from models import to_hf_gpt2_state_dict
from peft import LoraConfig, get_peft_model
from safetensors.torch import save
from torch import nn
from transformers import GPT2Config

SPLIT_PATTERN = r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+"
RENAMES = [(r"^tok_emb\.", "embeddings.word_embeddings."), (r"^pos_emb\.", "embeddings.position_embeddings."),
           (r"^ln_emb\.", "embeddings.LayerNorm."), (r"^blocks\.", "encoder.layer."),
           (r"\.attn\.q_proj\.", ".attention.self.query."), (r"\.attn\.k_proj\.", ".attention.self.key."),
           (r"\.attn\.v_proj\.", ".attention.self.value."), (r"\.attn\.o_proj\.", ".attention.output.dense."),
           (r"\.ln1\.", ".attention.output.LayerNorm."), (r"\.ffn\.up\.", ".intermediate.dense."),
           (r"\.ffn\.down\.", ".output.dense."), (r"\.ln2\.", ".output.LayerNorm.")]


def to_hf_bert_state_dict(model):
    out = {}
    for key, value in model.state_dict().items():
        if key.startswith("lm_head."):
            continue
        for pattern, repl in RENAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value.clone()
    w = model.tok_emb.weight
    out["embeddings.token_type_embeddings.weight"] = w.new_zeros(1, w.shape[1])
    return out


def bytes_to_unicode():
    keep = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    rest = [b for b in range(256) if b not in keep]
    table = {b: chr(b) for b in keep}
    table.update({b: chr(256 + n) for n, b in enumerate(rest)})
    return table


def export_pretrained(model, vocab, merges, special_tokens=[]):
    block = model.blocks[0]
    config = GPT2Config(vocab_size=model.tok_emb.num_embeddings, n_positions=model.pos_emb.num_embeddings,
                        n_embd=model.tok_emb.embedding_dim, n_layer=len(model.blocks),
                        n_head=block.attn.n_heads, n_inner=block.ffn.up.out_features,
                        activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=None, eos_token_id=None, pad_token_id=None)
    config.architectures = ["GPT2LMHeadModel"]
    weights = to_hf_gpt2_state_dict(model)
    del weights["lm_head.weight"]  # tied to wte: from_pretrained ties it again
    t = bytes_to_unicode()
    spell = lambda b: "".join(t[x] for x in b)
    special_bytes = {s.encode(): s for s in special_tokens}
    table = {special_bytes.get(b) or spell(b): i for i, b in vocab.items()}
    added = [{"id": table[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s in special_tokens]
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": table, "merges": [[spell(a), spell(b)] for a, b in merges]},
    }
    return {"config.json": config.to_json_string().encode(),
            "model.safetensors": save(weights, metadata={"format": "pt"}),
            "tokenizer.json": json.dumps(tokenizer, ensure_ascii=False).encode("utf-8"),
            "tokenizer_config.json": b'{"tokenizer_class": "PreTrainedTokenizerFast", '
                                     b'"clean_up_tokenization_spaces": false}',
            "special_tokens_map.json": b"{}", "notes.txt": b"ignored by the grader"}


def peft_lora(model, target_names, r, alpha):
    names = {target_names} if isinstance(target_names, str) else set(target_names)
    full = [n for n, m in model.named_modules() if n.split(".")[-1] in names and isinstance(m, nn.Linear)]
    if len(full) == 0:
        raise ValueError("nothing to adapt")
    pattern = "^(" + "|".join(re.escape(n) for n in full) + ")$"
    return get_peft_model(copy.deepcopy(model), LoraConfig(r=r, lora_alpha=alpha, target_modules=pattern))
'''


@needs_hf
@pytest.mark.slow
def test_a_correct_submission_written_another_way_gets_full_marks(zygote, tmp_path):
    from tests.harness import grade, submission_from_reference

    sub = submission_from_reference(tmp_path, replace={"hf": ANOTHER_WAY})
    result = grade(zygote, sub, ["hf"], "official")
    bad = [(c.id, c.message) for e in result.exercises for c in e.checks if c.status != "passed"]
    assert not bad and result.score == result.max_score, bad
    assert not result.grader_errors


def test_missing_packages_skip_the_exercise_and_say_what_to_install(zygote):
    """Without the optional packages: every hf check skipped, 0 points, a pip command;
    the other exercises grade as usual (no worker is even started for hf)."""
    from grader.host.sandbox import choose
    from grader.runner import Runner
    from tests.harness import SOLUTIONS, exercises

    hf_ex, masking = exercises(["hf"])[0], exercises(["masking"])[0]
    fake = dataclasses.replace(hf_ex, requires=["surely-not-installed-pkg>=1", *hf_ex.requires])
    result = Runner(SOLUTIONS, [masking, fake], mode="local", reference=None, seed=0, sandbox=choose(),
                    zygote=zygote, name_mistakes=False).run()
    by_id = {e.id: e for e in result.exercises}
    assert by_id["masking"].score == by_id["masking"].max_score > 0
    skipped = by_id["hf"]
    assert skipped.score == 0 and skipped.max_score == hf_ex.points
    assert {c.status for c in skipped.checks} == {"skipped"}
    assert all("pip install" in c.message and "surely-not-installed-pkg" in c.message for c in skipped.checks)
    assert not re.search(r"grader error", skipped.checks[0].message)
    from grader.reports import translate

    assert "pip install" in translate(skipped.checks[0].message, "zh", "hf")
    assert "需要" in translate(skipped.checks[0].message, "zh", "hf")
    assert not result.grader_errors


def test_requires_is_the_hf_extra():
    """course.toml's `requires` (what the report tells a student to install) is pyproject's hf extra."""
    import tomllib

    from tests.harness import ROOT, exercise

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["hf"]
    assert exercise("hf").requires == extra
