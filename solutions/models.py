"""MiniBERT and MiniGPT: whole language models from the blocks / 由模块搭出完整的语言模型.

A language model gives P_θ(w | context), the probability of a word at some position.
Both models below are the same three steps, and differ only in who may look at whom:

    ids -> token embedding + position embedding -> N Transformer blocks -> LM head -> logits

- MiniBERT (encoder only, an autoencoding LM): every position sees the whole sentence, so
  one forward pass fills in every [MASK] of "北京在北纬[MASK]度" at once.
- MiniGPT (decoder only, an autoregressive LM): masked (causal) attention, each position
  sees only itself and what comes before, so the logits at the last position of "北京在北"
  are P(· | 北京在北), the next character; generation appends it and repeats.

同样是「词向量 + 位置向量 → N 个 Transformer 块 → LM Head」。BERT 的每个位置都能看到整句，
一次前向传播就得到所有 [MASK] 的概率分布；GPT 的每个位置只能看到自己和前面的词，
最后一个位置的 logits 就是下一个词的分布，自回归地一个一个生成。

Lecture: §4 "如何基于以上原理构建语言模型？", "🤗 Encoder Only", "🤗 Decoder Only",
"🤗 Encoder", "🤗 Decoder".
"""

from __future__ import annotations

import torch
from blocks import DecoderBlock, EncoderBlock
from heads import LMHead, sample_next_token
from torch import nn


class MiniBERT(nn.Module):
    """A small BERT: encoder-only, bidirectional / 小型 BERT：只有编码器，双向注意力.

    Args:
        vocab_size: V, the number of token ids.
        max_len: the most positions the model has embeddings for; longer inputs are invalid.
        d_model: D, the width of every hidden vector.
        n_heads: H, attention heads per block (``d_model % n_heads == 0``).
        n_layers: N, the number of ``EncoderBlock``s.
        d_ff: the FFN's inner width, default ``4 * d_model`` (passed on to the blocks).
    Submodules (names are the contract, so a state_dict moves between models):
        tok_emb: nn.Embedding(V, D)          the word vectors E_v
        pos_emb: nn.Embedding(max_len, D)    one learned vector PE_pos per position
        ln_emb:  nn.LayerNorm(D)             normalises the sum of the two embeddings
        blocks:  nn.ModuleList of N ``EncoderBlock(D, H, d_ff, activation="gelu")``
        lm_head: LMHead(D, V) whose projection weight IS ``tok_emb.weight`` (tied: the same
                 Parameter object, so the head scores a hidden vector against every word vector)

    模块名是约定的一部分。lm_head 与 tok_emb 共享同一个权重（同一个 Parameter 对象）。

    Lecture: "🤗 Encoder Only" (BERT) and "🤗 Encoder" (一次前向传播即可计算出所有[MASK]的概率分布).
    """

    def __init__(
        self,
        vocab_size: int,
        max_len: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        d_ff: int | None = None,
    ):
        super().__init__()
        # TODO: create tok_emb, pos_emb, ln_emb, blocks (gelu EncoderBlocks) and an LMHead
        #       tied to tok_emb.weight; remember max_len for the length check.
        # BEGIN SOLUTION
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.ln_emb = nn.LayerNorm(d_model)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_heads, d_ff, activation="gelu") for _ in range(n_layers)
        )
        self.lm_head = LMHead(d_model, vocab_size, tied_weight=self.tok_emb.weight)
        # END SOLUTION

    def encode(
        self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Token ids -> contextual hidden vectors / 词 id → 句中的上下文向量.

        x = ln_emb(tok_emb(ids) + pos_emb(0..L-1)), then x = block(x, mask) for every block.
        No final LayerNorm: each post-LN EncoderBlock already ends with one.

        Args:
            ids: Long[B, L], ``L <= max_len`` (``L > max_len`` raises ValueError).
            attention_mask: optional Bool[B, L], True at real tokens, False at padding (right
                or anywhere). Padding positions are masked out as KEYS in every block, so no
                real token ever looks at padding. (Padding positions still get some hidden
                vector as queries; nothing should use it.) None means every token is real.
        Returns:
            hidden [B, L, D]. The result at real positions does not depend on what ids sit at
            the padding positions.

        位置编号从 0 开始。attention_mask 中 False 的位置（padding）作为 key 被屏蔽：
        任何真实的词都不会"看到" padding。EncoderBlock 的 mask 广播到 [B, H, Lq, Lk]。
        """
        # TODO: check L; add token and position embeddings (positions 0..L-1), apply ln_emb;
        #       turn the [B, L] key mask into one that broadcasts to [B, H, L, L]; run the blocks.
        # BEGIN SOLUTION
        L = ids.shape[1]
        if L > self.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len {self.max_len}")
        pos = torch.arange(L, device=ids.device)
        x = self.ln_emb(self.tok_emb(ids) + self.pos_emb(pos))        # (B, L, D)
        mask = None
        if attention_mask is not None:
            mask = attention_mask[:, None, None, :]                     # (B, 1, 1, L): keys
        for block in self.blocks:
            x = block(x, mask=mask)
        return x
        # END SOLUTION

    def forward(
        self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits for every position: lm_head(encode(ids, attention_mask)) -> [B, L, V].

        softmax(logits[b, i]) is P(· | the whole sentence) at position i, e.g. the
        distribution of the word hidden behind [MASK] in "北京在北纬[MASK]度".
        Same arguments and ValueError as ``encode``.
        每个位置的 logits；[MASK] 位置的 softmax 就是它的填词概率分布。
        """
        # TODO: one line: the LM head on top of encode.
        # BEGIN SOLUTION
        return self.lm_head(self.encode(ids, attention_mask))
        # END SOLUTION


class MiniGPT(nn.Module):
    """A small GPT: decoder-only, causal / 小型 GPT：只有解码器，因果（单向）注意力.

    Same constructor arguments as MiniBERT.
    Submodules (names are the contract; they follow GPT-2):
        tok_emb: nn.Embedding(V, D), pos_emb: nn.Embedding(max_len, D)
        blocks:  nn.ModuleList of N ``DecoderBlock(D, H, d_ff, activation="gelu")`` (pre-LN;
                 each block is causal by itself)
        ln_f:    nn.LayerNorm(D), the final LayerNorm that pre-LN blocks need before the head
        lm_head: LMHead(D, V) tied to ``tok_emb.weight`` (the same Parameter object)
    There is no LayerNorm on the embeddings (unlike MiniBERT).

    每个词做注意力时只能加权到之前的词（Masked Attention）。pre-LN 的块输出没有归一化，
    所以在 LM Head 之前要加 ln_f。

    Lecture: "🤗 Decoder Only" (GPT) and "🤗 Decoder" (自回归生成：每次生成下一个词).
    """

    def __init__(
        self,
        vocab_size: int,
        max_len: int,
        d_model: int,
        n_heads: int,
        n_layers: int,
        d_ff: int | None = None,
    ):
        super().__init__()
        # TODO: tok_emb, pos_emb, blocks (gelu DecoderBlocks), ln_f, and an LMHead tied to
        #       tok_emb.weight; remember max_len.
        # BEGIN SOLUTION
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(
            DecoderBlock(d_model, n_heads, d_ff, activation="gelu") for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = LMHead(d_model, vocab_size, tied_weight=self.tok_emb.weight)
        # END SOLUTION

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Next-token logits at every position / 每个位置上"下一个词"的 logits.

        x = tok_emb(ids) + pos_emb(0..L-1); x = block(x) for every block;
        logits = lm_head(ln_f(x)).

        Args:
            ids: Long[B, L], ``L <= max_len`` (``L > max_len`` raises ValueError).
        Returns:
            logits [B, L, V]; softmax(logits[b, t]) = P(ids[b, t+1] | ids[b, :t+1]), so
            logits[b, t] never depends on tokens after t. For "北京在北" the last position
            gives P(· | 北京在北).

        logits[b, t] 只依赖 ids[b, :t+1]，改动后面的词不会改变前面位置的输出。
        """
        # TODO: check L; embeddings with positions 0..L-1 (no LayerNorm here); the blocks
        #       (already causal); ln_f; the head.
        # BEGIN SOLUTION
        L = ids.shape[1]
        if L > self.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len {self.max_len}")
        pos = torch.arange(L, device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(pos)                       # (B, L, D)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))                               # (B, L, V)
        # END SOLUTION

    @torch.no_grad()
    def generate(
        self,
        ids: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Autoregressive generation / 自回归生成：每次生成下一个词.

        Repeat max_new_tokens times: run the model on the last ``min(len, max_len)`` tokens,
        take the logits at the LAST position, pick one token with
        ``sample_next_token(logits, temperature, top_k, generator)`` and append it.

        Args:
            ids: Long[B, L0], the prompt, L0 >= 1 (e.g. the ids of "北京在北"). It may be
                longer than max_len: only the last max_len tokens are ever fed to the model.
            max_new_tokens: how many tokens to append, >= 0 (negative raises ValueError);
                0 returns the prompt unchanged.
            temperature, top_k, generator: passed to ``sample_next_token``; temperature 0
                (the default) is greedy decoding, so the result is deterministic.
        Returns:
            Long[B, L0 + max_new_tokens]: the prompt followed by the new tokens. ``ids`` itself
            is not modified.

        每一步只把最后 max_len 个词送进模型，取最后一个位置的 logits 选出下一个词，接在后面。
        """
        # TODO: loop; crop the context to the last max_len tokens; logits at position -1;
        #       sample_next_token; torch.cat the new column onto the sequence.
        # BEGIN SOLUTION
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        for _ in range(max_new_tokens):
            context = ids[:, -self.max_len:]                            # at most max_len tokens
            logits = self(context)[:, -1, :]                            # (B, V) last position
            next_id = sample_next_token(
                logits, temperature=temperature, top_k=top_k, generator=generator
            )                                                           # (B,)
            ids = torch.cat([ids, next_id[:, None]], dim=1)             # (B, L + 1)
        return ids
        # END SOLUTION


def to_hf_gpt2_state_dict(model: MiniGPT) -> dict[str, torch.Tensor]:
    """Export a MiniGPT for Hugging Face 🤗 ``transformers.GPT2LMHeadModel`` / 导出到 🤗 GPT-2.

    MiniGPT is GPT-2's architecture, so only the names and layouts differ:

        tok_emb.weight                 -> transformer.wte.weight
        pos_emb.weight                 -> transformer.wpe.weight
        blocks.i.ln1 / ln2 (w, b)      -> transformer.h.i.ln_1 / ln_2 (weight, bias)
        blocks.i.attn.{q,k,v}_proj     -> transformer.h.i.attn.c_attn   (ONE fused layer:
                                          output features [q | k | v], in that order)
        blocks.i.attn.o_proj           -> transformer.h.i.attn.c_proj
        blocks.i.ffn.up / down         -> transformer.h.i.mlp.c_fc / c_proj
        ln_f (w, b)                    -> transformer.ln_f (weight, bias)
        lm_head.proj.weight            -> lm_head.weight (tied to wte in GPT-2 as here)

    GPT-2's linear layers are ``Conv1D`` modules that store the weight as (in, out), the
    TRANSPOSE of ``nn.Linear``'s (out, in): c_attn.weight is (D, 3D), c_fc.weight is
    (D, d_ff), both c_proj weights are (in, out). Biases are unchanged (c_attn.bias is the
    concatenation [q | k | v], shape (3D,)).

    Args:
        model: a MiniGPT (not modified).
    Returns:
        a dict of new tensors (copies, contiguous, detached) keyed by GPT-2's own names, so that
        ``GPT2LMHeadModel(GPT2Config(activation_function="gelu", n_positions=max_len,
        n_embd=D, n_head=H, n_layer=N, n_inner=d_ff, vocab_size=V, resid_pdrop=0,
        embd_pdrop=0, attn_pdrop=0))`` loaded with it gives the same logits as ``model``.

    只是改名和改形状：GPT-2 把 q/k/v 融合成一个 c_attn，且 Conv1D 的权重是 nn.Linear 权重的转置。

    Lecture: §0 引言 (Hugging Face 🤗, 在本地部署类 ChatGPT 语言模型) and "🤗 Decoder Only".
    """
    # TODO: build the dict block by block; torch.cat q, k, v along the output dim, then
    #       transpose every Linear weight that becomes a Conv1D weight.
    # BEGIN SOLUTION
    sd = {
        "transformer.wte.weight": model.tok_emb.weight,
        "transformer.wpe.weight": model.pos_emb.weight,
    }
    for i, block in enumerate(model.blocks):
        p, attn, ffn = f"transformer.h.{i}.", block.attn, block.ffn
        sd[p + "ln_1.weight"], sd[p + "ln_1.bias"] = block.ln1.weight, block.ln1.bias
        qkv_w = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])  # (3D, D)
        sd[p + "attn.c_attn.weight"] = qkv_w.T                                   # (D, 3D)
        qkv_b = torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])      # (3D,)
        sd[p + "attn.c_attn.bias"] = qkv_b
        sd[p + "attn.c_proj.weight"] = attn.o_proj.weight.T
        sd[p + "attn.c_proj.bias"] = attn.o_proj.bias
        sd[p + "ln_2.weight"], sd[p + "ln_2.bias"] = block.ln2.weight, block.ln2.bias
        sd[p + "mlp.c_fc.weight"] = ffn.up.weight.T                              # (D, d_ff)
        sd[p + "mlp.c_fc.bias"] = ffn.up.bias
        sd[p + "mlp.c_proj.weight"] = ffn.down.weight.T                          # (d_ff, D)
        sd[p + "mlp.c_proj.bias"] = ffn.down.bias
    sd["transformer.ln_f.weight"] = model.ln_f.weight
    sd["transformer.ln_f.bias"] = model.ln_f.bias
    sd["lm_head.weight"] = model.lm_head.proj.weight
    return {k: v.detach().clone(memory_format=torch.contiguous_format) for k, v in sd.items()}
    # END SOLUTION
