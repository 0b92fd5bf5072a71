"""Hugging Face 🤗, both ways / 与 Hugging Face 双向互通.

Everything this course built by hand has a counterpart in the Hugging Face libraries, and
the weights move between them unchanged once the names and layouts agree:

    MiniBERT                   -> transformers.BertModel          (rename the weights)
    MiniGPT + a BPE tokenizer  -> a folder that AutoModelForCausalLM / AutoTokenizer load
                                  (config.json, model.safetensors, tokenizer.json, ...)
    apply_lora                 -> peft.get_peft_model(model, LoraConfig(...))

A model published in such a folder runs with every tool of the ecosystem (generation,
serving, quantisation, fine-tuning), and a tool of the ecosystem (peft) can adapt a model
that was written by hand, as long as it is built from standard layers (nn.Linear).

本课程中亲手实现的模块在 Hugging Face 的库中都有对应：只要名字和张量布局一致，权重就能直接互换。
导出的文件夹可以直接用 AutoModelForCausalLM / AutoTokenizer 离线加载；peft 也能给我们自己写的模型加 LoRA。

Needs the `hf` extra: ``pip install transformers peft safetensors tokenizers``.
需要安装 `hf` 依赖：``pip install transformers peft safetensors tokenizers``。

Lecture: §0 引言 ("Hugging Face 🤗", "在本地部署类 ChatGPT 语言模型"), "🤗 Encoder Only" (BERT),
"🤗 Decoder Only" (GPT) and "🤗如何使用有限的硬件资源进行微调？" (LoRA).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable

import torch
from models import MiniBERT, MiniGPT, to_hf_gpt2_state_dict
from peft import LoraConfig, get_peft_model
from safetensors.torch import save
from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers
from tokenizers import models as tokenizer_models
from torch import nn

# The course's split pattern (section 14), spelled so that Python's `re` and the Rust
# regex engines of tokenizers and tiktoken cut text into the same chunks.
SPLIT_PATTERN = r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+"


# --- MiniBERT -> transformers.BertModel -------------------------------------------------------


def to_hf_bert_state_dict(model: MiniBERT) -> dict[str, torch.Tensor]:
    """Export a MiniBERT for 🤗 ``transformers.BertModel`` / 把 MiniBERT 导出为 🤗 BertModel.

    MiniBERT is BERT's encoder (post-LN blocks, learned positions, a LayerNorm on the
    embeddings), so only the names differ. BERT's names, for block i (prefix
    ``encoder.layer.{i}.``) and the embeddings:

        tok_emb.weight              -> embeddings.word_embeddings.weight
        pos_emb.weight              -> embeddings.position_embeddings.weight
        (none)                      -> embeddings.token_type_embeddings.weight: zeros (1, D)
        ln_emb (weight, bias)       -> embeddings.LayerNorm
        blocks.i.attn.q/k/v_proj    -> attention.self.query / key / value
        blocks.i.attn.o_proj        -> attention.output.dense
        blocks.i.ln1                -> attention.output.LayerNorm   (after attention + residual)
        blocks.i.ffn.up             -> intermediate.dense
        blocks.i.ffn.down           -> output.dense
        blocks.i.ln2                -> output.LayerNorm             (after the FFN + residual)

    Every linear layer is an nn.Linear in both models: weights keep their (out, in) layout,
    nothing is transposed or fused (unlike GPT-2's Conv1D). BERT adds a "segment"
    (token type) embedding to every token; with ``type_vocab_size=1`` and zeros it adds
    nothing. MiniBERT's LM head is not part of ``BertModel`` (it has no head): leave it out.

    Args:
        model: a MiniBERT (not modified), float32 or float64.
    Returns:
        a dict of new tensors (copies, detached, in the model's dtype) with exactly the keys
        of ``BertModel(config, add_pooling_layer=False).state_dict()`` for
        ``BertConfig(vocab_size=V, hidden_size=D, num_hidden_layers=N, num_attention_heads=H,
        intermediate_size=d_ff, max_position_embeddings=max_len, type_vocab_size=1,
        hidden_act="gelu", layer_norm_eps=1e-5, hidden_dropout_prob=0,
        attention_probs_dropout_prob=0)``, so that the loaded BertModel's
        ``last_hidden_state`` equals ``model.encode(ids, attention_mask)`` at the real tokens
        (BERT's attention_mask is the same mask: 1 at real tokens, 0 at padding).

    只需改名：每个 nn.Linear 的权重布局相同（不转置、不融合）；token_type_embeddings 为全零 (1, D)；
    BertModel 没有 LM Head，所以不导出 lm_head。

    Lecture: "🤗 Encoder Only" (BERT) and §0 引言 (Hugging Face 🤗).
    """
    # TODO: the embeddings first (token_type_embeddings: torch.zeros(1, D) in the model's
    #       dtype), then for every block the eight layers above, weight and bias each.
    # BEGIN SOLUTION
    w = model.tok_emb.weight
    sd = {
        "embeddings.word_embeddings.weight": w,
        "embeddings.position_embeddings.weight": model.pos_emb.weight,
        "embeddings.token_type_embeddings.weight": torch.zeros(1, w.shape[1], dtype=w.dtype),
        "embeddings.LayerNorm.weight": model.ln_emb.weight,
        "embeddings.LayerNorm.bias": model.ln_emb.bias,
    }
    for i, block in enumerate(model.blocks):
        layers = {
            "attention.self.query": block.attn.q_proj,
            "attention.self.key": block.attn.k_proj,
            "attention.self.value": block.attn.v_proj,
            "attention.output.dense": block.attn.o_proj,
            "attention.output.LayerNorm": block.ln1,
            "intermediate.dense": block.ffn.up,
            "output.dense": block.ffn.down,
            "output.LayerNorm": block.ln2,
        }
        for name, layer in layers.items():
            sd[f"encoder.layer.{i}.{name}.weight"] = layer.weight
            sd[f"encoder.layer.{i}.{name}.bias"] = layer.bias
    return {k: v.detach().clone() for k, v in sd.items()}
    # END SOLUTION


# --- MiniGPT + BPE -> a folder for from_pretrained -------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: one printable character for each of the 256 bytes.

    Given (not an exercise). ``tokenizers``' ByteLevel pre-tokenizer turns every byte of the
    text into this character before the BPE model sees it, so a byte-level vocabulary is
    stored with its tokens spelled in these characters: byte 0x20 (a space) is "Ġ", the
    three bytes of "中" (e4 b8 ad) are "ä¸Ń". Printable Latin-1 bytes stand for
    themselves; the other 68 bytes map to chr(256), chr(257), ... in byte order.

    GPT-2 的字节级字母表：256 个字节各对应一个可打印字符（空格是 "Ġ"）。
    tokenizer.json 中的词表与合并规则都用这些字符书写。
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def export_pretrained(
    model: MiniGPT,
    vocab: dict[int, bytes],
    merges: list[tuple[bytes, bytes]],
    special_tokens: list[str] = [],  # noqa: B006 - the contract's signature; never modified
) -> dict[str, bytes]:
    """A folder 🤗 ``from_pretrained`` loads: MiniGPT + its BPE tokenizer / 导出可直接加载的模型文件夹.

    Returns the files as ``{file name: contents}``; whoever calls this writes them into a
    folder (this function writes nothing). Then, offline,

        model = AutoModelForCausalLM.from_pretrained(folder)   # a GPT2LMHeadModel
        tok = AutoTokenizer.from_pretrained(folder)
        tok.encode(text) == bpe_encode(text, vocab, merges, special_tokens)
        model.generate(ids, max_new_tokens=n, do_sample=False) == minigpt.generate(ids, n)

    The files:
    - ``config.json``: a GPT-2 config (``"model_type": "gpt2"``) with the model's sizes:
      vocab_size V (rows of tok_emb), n_positions = max_len, n_embd = D, n_head = H
      (``block.attn.n_heads``), n_layer = N, n_inner = d_ff (``block.ffn.up.out_features``:
      GPT-2's default would be 4·D), activation_function "gelu" (GPT-2's default
      "gelu_new" is the tanh approximation), every dropout 0, layer_norm_epsilon 1e-5, and
      bos_token_id, eos_token_id, pad_token_id null (JSON for None; GPT-2's defaults 50256
      do not exist here).
    - ``model.safetensors``: ``to_hf_gpt2_state_dict(model)`` (section 9), in the model's own
      dtype (the grader's model is float64 and compares in float64), saved with
      ``safetensors.torch.save(..., metadata={"format": "pt"})`` (bytes, no file).
    - ``tokenizer.json``: a ``tokenizers.Tokenizer`` (``.to_str()``, encoded as UTF-8):
      a ``models.BPE`` whose vocabulary maps each token's bytes, spelled with
      ``bytes_to_unicode()``, to its id, and whose merges are the pairs spelled the same
      way, in the order learned (the order is the priority); a pre-tokenizer
      ``Sequence([Split(Regex(SPLIT_PATTERN), behavior="isolated"), ByteLevel(
      add_prefix_space=False, use_regex=False)])`` (the course's chunks, then bytes to
      characters; ``use_regex=True`` would split with GPT-2's own pattern instead); a
      ``decoders.ByteLevel()`` decoder; and each special token added with
      ``add_special_tokens([AddedToken(s, special=True, normalized=False)])`` after
      putting it in the vocabulary under its own text with its id from ``vocab``
      (so it is matched before splitting, never split, and keeps its id).
    - ``tokenizer_config.json``: ``{"tokenizer_class": "PreTrainedTokenizerFast",
      "clean_up_tokenization_spaces": false, "model_max_length": max_len}`` so that
      AutoTokenizer neither adds tokens nor changes the text when decoding.

    Args:
        model: a MiniGPT (not modified).
        vocab: id -> bytes, as ``train_bpe`` (section 14) makes it: 0..255 the single bytes,
            then the special tokens' UTF-8 bytes, then one id per merge. No two ids hold the
            same bytes (a Hugging Face vocabulary maps each token string to ONE id).
        merges: (left bytes, right bytes) in the order learned.
        special_tokens: the special tokens' text, each present in ``vocab`` as its UTF-8
            bytes. Not modified.
    Returns:
        ``{"config.json": ..., "model.safetensors": ..., "tokenizer.json": ...,
        "tokenizer_config.json": ...}``, every value ``bytes``.

    返回 {文件名: 字节}，本函数不写任何文件。config 中 n_inner = d_ff、activation_function = "gelu"，
    bos/eos/pad_token_id 为 null；tokenizer.json 的词表和合并规则用 bytes_to_unicode() 的字符书写，
    切分规则与第 14 节相同，特殊词元作为 AddedToken 加入并保持原来的 id。

    Lecture: §0 引言 ("在本地部署类 ChatGPT 语言模型") and "🤗 Decoder Only".
    """
    # TODO: config.json from the model's sizes; model.safetensors with safetensors.torch.save;
    #       tokenizer.json: spell every vocab entry and merge with bytes_to_unicode(), build
    #       the BPE Tokenizer with the pre-tokenizer, decoder and special tokens above;
    #       tokenizer_config.json; json.dumps(...).encode() for the JSON files.
    # BEGIN SOLUTION
    block = model.blocks[0]
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": model.tok_emb.num_embeddings,
        "n_positions": model.pos_emb.num_embeddings,
        "n_embd": model.tok_emb.embedding_dim,
        "n_head": block.attn.n_heads,
        "n_layer": len(model.blocks),
        "n_inner": block.ffn.up.out_features,
        "activation_function": "gelu",
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "layer_norm_epsilon": model.ln_f.eps,
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
    }
    weights = save(to_hf_gpt2_state_dict(model), metadata={"format": "pt"})
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "model_max_length": model.pos_emb.num_embeddings,
    }
    return {
        "config.json": json.dumps(config, indent=2).encode(),
        "model.safetensors": weights,
        "tokenizer.json": _tokenizer(vocab, merges, special_tokens).to_str().encode(),
        "tokenizer_config.json": json.dumps(tokenizer_config, indent=2).encode(),
    }
    # END SOLUTION


# BEGIN SOLUTION (remove)
def _tokenizer(vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]],
               special_tokens: list[str]) -> Tokenizer:
    """The tokenizers.Tokenizer of export_pretrained's docstring."""
    table = bytes_to_unicode()
    spell = lambda b: "".join(table[x] for x in b)   # noqa: E731 - bytes -> ByteLevel characters
    specials = {s.encode("utf-8") for s in special_tokens}
    token_ids = {spell(b): i for i, b in vocab.items() if b not in specials}
    for s in special_tokens:  # under their own text, with the id train_bpe gave them
        token_ids[s] = next(i for i, b in vocab.items() if b == s.encode("utf-8"))
    bpe = tokenizer_models.BPE(vocab=token_ids, merges=[(spell(a), spell(b)) for a, b in merges])
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in special_tokens])
    return tok
# END SOLUTION


# --- apply_lora -> peft -------------------------------------------------------------------------


def peft_lora(model: nn.Module, target_names: Iterable[str], r: int, alpha: float) -> nn.Module:
    """``apply_lora`` with 🤗 peft / 用 peft 实现同样的 LoRA.

    The same adaptation as ``apply_lora(model, target_names, r, alpha)`` (section 11), made
    by ``peft.get_peft_model(copy, LoraConfig(r=r, lora_alpha=alpha,
    target_modules=[...], lora_dropout=0.0))``: peft freezes the model, wraps each target
    layer in its own LoRA layer (``lora_A`` (r, in), ``lora_B`` (out, r), scaling
    ``alpha / r``, B starting at zero) and returns a PeftModel; ``merge_and_unload()``
    folds W + (alpha / r)·B·A back into plain layers.

    Which layers: exactly the ``nn.Linear`` modules that apply_lora would wrap, i.e. those
    whose attribute name (the last part of the dotted name from ``named_modules()``) is in
    ``target_names``. Pass peft their FULL names (``"blocks.0.attn.q_proj"``): given bare
    names, peft adapts every module whose name ends with one, and it also adapts other
    layer types (nn.Embedding, nn.Conv1d, ...) or refuses unsupported ones.

    Args:
        model: an nn.Module built from nn.Linear layers (MiniGPT, MiniBERT, ...); NOT
            modified: peft changes the model it is given, so give it ``copy.deepcopy(model)``.
        target_names: attribute names, e.g. ["q_proj", "v_proj"]; a single string counts
            as one name.
        r, alpha: rank and scale, as in ``LoRALinear``.
    Returns:
        the PeftModel: its trainable parameters are exactly the lora_A / lora_B of the
        adapted layers (``r·(in + out)`` numbers each, as with apply_lora); with the same A
        and B it computes the same outputs as apply_lora's model, and
        ``merge_and_unload()`` gives the same merged weights.
    Raises:
        ValueError: when no nn.Linear matches ``target_names``.

    只给 apply_lora 会包装的 nn.Linear 加 LoRA：把它们的完整名字交给 LoraConfig 的 target_modules
    （只给短名字时，peft 会匹配所有以它结尾的模块，包括 nn.Embedding 等其他类型）。
    peft 会修改传入的模型，所以先 copy.deepcopy。没有任何匹配时抛出 ValueError。

    Lecture: "🤗如何使用有限的硬件资源进行微调？" (LoRA) and §0 引言 (Hugging Face 🤗).
    """
    # TODO: collect the full names of the nn.Linear modules whose last name part is in
    #       target_names (ValueError if none); get_peft_model on a deep copy with a LoraConfig.
    # BEGIN SOLUTION
    wanted = {target_names} if isinstance(target_names, str) else set(target_names)
    names = [name for name, module in model.named_modules()
             if name.rpartition(".")[2] in wanted and isinstance(module, nn.Linear)]
    if not names:
        raise ValueError(f"no nn.Linear layer is named any of {sorted(wanted)}")
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=names, lora_dropout=0.0)
    return get_peft_model(copy.deepcopy(model), config)
    # END SOLUTION
