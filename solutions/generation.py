"""A chat model on your own machine: KV cache, sampling filters, streaming / 在本地运行对话模型.

``MiniGPT.generate`` runs the whole sequence through the model for every new token, so the
n-th token costs n positions of work: the keys and values of the prompt are computed again
and again although they never change (a position only sees what comes before it). A KV
cache keeps each block's keys and values; every step then feeds ONE new token, whose query
attends to the cached keys plus its own:

    step 0:  forward(prompt [B, L0])          -> logits, cache (k, v each [B, H, L0, dh])
    step s:  forward(new token [B, 1], cache) -> logits, cache (k, v each [B, H, L0+s, dh])

Around the model, a chat program shapes the next-token distribution (🤗 transformers'
order): a repetition penalty (no loops of "好的好的好的"), a temperature, top-k and top-p
(nucleus) filters; and it prints text while it is being generated, which needs care
because one Chinese character is three UTF-8 bytes and a BPE token may hold part of one.

自回归生成时，前缀的 K、V 永远不会变，KV cache 把它们存下来，之后每一步只送入一个新词。
采样前依次做重复惩罚、温度、top-k、top-p（与 🤗 transformers 的顺序相同）。
流式输出时要等一个汉字的 3 个字节都到齐了才能打印。

Lecture: §0 引言 (在本地部署类 ChatGPT 语言模型), "🤗 Decoder" (自回归生成：每次生成下一个词),
"🤗 Decoder Only" (GPT).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator

import torch
from attention import scaled_dot_product_attention
from models import MiniGPT
from multihead import merge_heads, split_heads
from torch import nn

KVCache = list[tuple[torch.Tensor, torch.Tensor]]


def _cached_attention(
    attn: nn.Module, h: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One block's attention for T new positions over the P cached ones and themselves.

    A helper for ``forward_with_cache`` (the grader only calls that one).

    Args:
        attn: the block's MultiHeadAttention (q_proj, k_proj, v_proj, o_proj, n_heads).
        h: [B, T, D], ln1 of the new positions.
        past: None or the block's cached (k, v), each [B, H, P, dh].
    Returns:
        (out [B, T, D] after o_proj, (k, v) each [B, H, P+T, dh]).

    新的第 t 个查询位于位置 P+t，可以看到键 0..P+t：掩码形状为 [T, P+T]。
    """
    # TODO: q, k, v from the projections, split into heads; concatenate past k, v along the
    #       positions (dim 2); mask torch.ones(T, P+T).tril(diagonal=P); attention; merge; o_proj.
    # BEGIN SOLUTION
    T = h.shape[1]
    q = split_heads(attn.q_proj(h), attn.n_heads)                   # (B, H, T, dh)
    k = split_heads(attn.k_proj(h), attn.n_heads)                   # (B, H, T, dh)
    v = split_heads(attn.v_proj(h), attn.n_heads)
    if past is not None:
        k = torch.cat([past[0], k], dim=2)                          # (B, H, P+T, dh)
        v = torch.cat([past[1], v], dim=2)
    P = k.shape[2] - T
    # new query t sits at position P+t and may see keys 0..P+t
    mask = torch.ones(T, P + T, dtype=torch.bool, device=h.device).tril(diagonal=P)
    out, _ = scaled_dot_product_attention(q, k, v, mask)            # (B, H, T, dh)
    return attn.o_proj(merge_heads(out)), (k, v)                    # (B, T, D)
    # END SOLUTION


def forward_with_cache(
    model: MiniGPT, ids: torch.Tensor, cache: KVCache | None = None
) -> tuple[torch.Tensor, KVCache]:
    """MiniGPT's forward on new tokens only, with a KV cache / 带 KV cache 的前向传播.

    The same computation as ``model(full_ids)`` (section 9), written out with the model's own
    submodules, except that only the T NEW tokens go through the blocks: they sit at
    positions P..P+T-1, where P is the cached length, and each block's attention uses the
    cached keys/values of positions 0..P-1 plus the new ones:

        x = tok_emb(ids) + pos_emb(P..P+T-1)
        for block i:  h = ln1(x)
                      q, k, v = split_heads(q_proj(h)), split_heads(k_proj(h)), ...  [B, H, T, dh]
                      k = cat(cache_k[i], k), v = cat(cache_v[i], v)   along the positions
                      new query t (position P+t) attends to keys 0..P+t (causal)
                      x = x + o_proj(merge_heads(attention)); x = x + ffn(ln2(x))
        logits = lm_head(ln_f(x))

    Call the submodules (``block.attn.k_proj(h)``, ``block.ffn(...)``), never read their
    weights, and do not copy the model: the grader counts how often they run. Reuse your
    ``split_heads`` / ``merge_heads`` (multihead) and ``scaled_dot_product_attention``
    (attention). The head count is ``block.attn.n_heads``; ``max_len`` is
    ``model.pos_emb.num_embeddings``.

    Args:
        model: a MiniGPT (section 9; not modified).
        ids: Long[B, T], the new tokens (T >= 1).
        cache: None (nothing cached yet, P = 0) or what the previous call returned: one
            ``(k, v)`` pair per block, each [B, H, P, dh]. Not modified.
    Returns:
        (logits [B, T, V], new cache): the logits equal ``model(full_ids)[:, P:P+T]`` up to
        rounding; the new cache holds one ``(k, v)`` per block, each [B, H, P+T, dh]
        (k and v as ``split_heads(k_proj(ln1(x)))``, before attention). Dtype of the model.
    Raises:
        ValueError: if P + T > max_len (no position embedding for position P+T-1).

    只把新的 T 个词送进各个块，它们的位置是 P..P+T-1（P 是缓存的长度，不是从 0 开始！）；
    注意力的键和值是缓存的 K、V 与新 K、V 沿位置维拼接的结果。

    Lecture: "🤗 Decoder" (自回归生成), "🤗 Multi Head Attention".
    """
    # TODO: P from the cache (0 when None); check P + T; embeddings at positions P..P+T-1;
    #       per block: x = x + attention of block.ln1(x) (_cached_attention above), then
    #       x = x + block.ffn(block.ln2(x)); keep each block's (k, v) for the new cache;
    #       model.lm_head(model.ln_f(x)) at the end.
    # BEGIN SOLUTION
    B, T = ids.shape
    P = 0 if not cache else cache[0][0].shape[2]
    max_len = model.pos_emb.num_embeddings
    if P + T > max_len:
        raise ValueError(f"{P} cached + {T} new positions exceed max_len = {max_len}")
    pos = torch.arange(P, P + T, device=ids.device)
    x = model.tok_emb(ids) + model.pos_emb(pos)                     # (B, T, D)
    new_cache = []
    for i, block in enumerate(model.blocks):
        a, kv = _cached_attention(block.attn, block.ln1(x), cache[i] if cache else None)
        x = x + a
        x = x + block.ffn(block.ln2(x))
        new_cache.append(kv)
    return model.lm_head(model.ln_f(x)), new_cache                  # (B, T, V)
    # END SOLUTION


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus (top-p) filtering / 核采样（top-p）过滤.

    Keep the smallest set of most probable tokens whose probability adds up to at least
    top_p; every other logit becomes -inf. 🤗 transformers' rule (``TopPLogitsWarper``):

        sort the logits ascending; probs = softmax(sorted); cum = cumsum(probs)
        remove the tokens with cum <= 1 - top_p      (summed from the least probable up)
        the most probable token always stays; top_p == 1 returns the logits unchanged

    Logits that are already -inf (probability 0, e.g. cut by top-k) stay -inf.

    Args:
        logits: [B, V] (any leading dims), float; NOT modified.
        top_p: in (0, 1]; anything else raises ValueError.
    Returns:
        a new tensor like logits: kept entries unchanged, removed ones -inf; same dtype.

    从最不可能的词开始往上累加概率，累计概率 <= 1 - top_p 的词都去掉（设为 -inf）；
    概率最大的词永远保留；top_p = 1 时一个都不去掉。

    Lecture: "🤗 Decoder" (每次生成下一个词: 从 softmax(logits) 中采样).
    """
    # TODO: validate top_p; return a copy when top_p == 1; sort ascending (keep the order
    #       indices), softmax, cumsum; mark cum <= 1 - top_p but never the last (largest)
    #       entry; scatter the marks back to the original order; masked_fill with -inf.
    # BEGIN SOLUTION
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_p == 1:
        return logits.clone()
    sorted_logits, order = logits.sort(dim=-1)                      # ascending
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)              # (B, V)
    remove_sorted = cum <= 1 - top_p
    remove_sorted[..., -1] = False                                  # keep the most probable
    remove = remove_sorted.scatter(-1, order, remove_sorted)        # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))
    # END SOLUTION


def repetition_penalty(logits: torch.Tensor, ids: torch.Tensor, penalty: float) -> torch.Tensor:
    """Make tokens that already occur less likely / 重复惩罚.

    For every token v present in ids[b] (once or many times: the penalty applies once):
    logits[b, v] / penalty if logits[b, v] > 0, logits[b, v] * penalty otherwise, so with
    penalty > 1 the token never becomes more likely (🤗 ``RepetitionPenaltyLogitsProcessor``,
    from the CTRL paper). penalty == 1 changes nothing; penalty < 1 favours repeats.

    Args:
        logits: [B, V] float; NOT modified.
        ids: Long[B, L], the tokens so far (L may be 0).
        penalty: > 0; penalty <= 0 raises ValueError.
    Returns:
        a new tensor like logits, same dtype.

    出现过的词（不论出现几次，只惩罚一次）：正的 logit 除以 penalty，负的乘以 penalty。

    Lecture: §0 引言 (在本地部署类 ChatGPT 语言模型).
    """
    # TODO: validate; gather the logits of the tokens in ids, penalise them (torch.where on
    #       the sign), scatter them back into a copy of logits.
    # BEGIN SOLUTION
    if penalty <= 0:
        raise ValueError(f"penalty must be > 0, got {penalty}")
    seen = logits.gather(-1, ids)                                   # (B, L)
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(-1, ids, seen)                            # repeats write the same value
    # END SOLUTION


def _penalise(logits: torch.Tensor, ids: torch.Tensor, penalty: float) -> torch.Tensor:
    """``repetition_penalty`` under another name: inside ``generate_cached`` the argument
    called ``repetition_penalty`` hides the function of the same name."""
    return repetition_penalty(logits, ids, penalty)


@torch.no_grad()
def generate_cached(
    model: MiniGPT,
    ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Generation with a KV cache and sampling filters / 带 KV cache 与采样过滤的生成.

    One ``forward_with_cache`` over the prompt, then one single-token forward per new token
    (the token just chosen, with the cache): n new tokens cost 1 + (n - 1) forwards over
    L0 + n - 1 positions in all, not L0 + (L0+1) + ... positions. Each step, on the logits at
    the last position (🤗 transformers' order):

        1. repetition penalty over the whole sequence so far (prompt and generated tokens)
           — use ``_penalise`` (the argument ``repetition_penalty`` hides the function);
        2. temperature == 0: the argmax of the penalised logits (greedy, filters unused);
           otherwise divide by the temperature,
        3. top-k: logits below the k-th largest become -inf (no cut when None or k >= V),
        4. top-p: ``top_p_filter`` (when top_p is not None),
        5. draw from the softmax with ``torch.multinomial(probs, 1, generator=generator)``.

    At temperature 0 without a penalty this returns ``model.generate(ids, max_new_tokens)``.

    With ``eos_id``: a row is finished once it produced eos_id AFTER the prompt (an eos_id in
    the prompt does not count); from then on it continues with eos_id only, and generation
    stops as soon as every row is finished, so fewer than max_new_tokens may be appended.

    Args:
        model: a MiniGPT (not modified; run it only through ``forward_with_cache``).
        ids: Long[B, L0], the prompt, L0 >= 1; NOT modified.
        max_new_tokens: n >= 0; ``L0 + max_new_tokens > max_len`` raises ValueError (checked
            before any work, even if eos would stop earlier); a negative value too.
        temperature: >= 0; top_k: None or >= 1; top_p: None or in (0, 1];
        repetition_penalty: > 0 (1.0 = none); other values raise ValueError.
        eos_id: None or a token id.
        generator: the torch.Generator for every draw.
    Returns:
        Long[B, L0 + n], n <= max_new_tokens: the prompt followed by the new tokens.

    先对整个提示做一次前向传播，之后每一步只送入刚生成的一个词（配合 KV cache）。
    每一步：重复惩罚（提示和已生成的词都算）→ 除以温度 → top-k → top-p → 采样；温度为 0 时
    直接取惩罚后 logits 的 argmax。所有行都生成了 eos_id 之后就停止；已结束的行用 eos_id 填充。

    Lecture: "🤗 Decoder" (自回归生成：每次生成下一个词), §0 引言 (本地部署类 ChatGPT 语言模型).
    """
    # TODO: validate the length; forward the prompt once; loop: logits at the last position,
    #       penalty, greedy or temperature/top-k/top-p/multinomial, eos bookkeeping
    #       (finished rows emit eos_id; stop when all are finished), append, and feed only
    #       the new token (next_id[:, None]) with the cache when another step follows.
    # BEGIN SOLUTION
    L0 = ids.shape[1]
    max_len = model.pos_emb.num_embeddings
    if max_new_tokens < 0 or L0 + max_new_tokens > max_len:
        raise ValueError(f"{L0} prompt + {max_new_tokens} new tokens do not fit max_len = {max_len}")
    if temperature < 0 or (top_k is not None and top_k < 1) or repetition_penalty <= 0 \
            or (top_p is not None and not 0 < top_p <= 1):
        raise ValueError("need temperature >= 0, top_k >= 1, 0 < top_p <= 1, repetition_penalty > 0")
    if max_new_tokens == 0:
        return ids.clone()
    logits, cache = forward_with_cache(model, ids)
    finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for step in range(max_new_tokens):
        scores = logits[:, -1]                                      # (B, V)
        if repetition_penalty != 1.0:
            scores = _penalise(scores, ids, repetition_penalty)
        if temperature == 0:
            next_id = scores.argmax(dim=-1)                         # (B,)
        else:
            scores = scores / temperature
            if top_k is not None and top_k < scores.shape[-1]:
                kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
                scores = scores.masked_fill(scores < kth, float("-inf"))
            if top_p is not None:
                scores = top_p_filter(scores, top_p)
            probs = scores.softmax(dim=-1)
            next_id = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        if eos_id is not None:
            next_id = next_id.masked_fill(finished, eos_id)
            finished = finished | (next_id == eos_id)
        ids = torch.cat([ids, next_id[:, None]], dim=1)             # (B, L + 1)
        if (eos_id is not None and bool(finished.all())) or step + 1 == max_new_tokens:
            break
        logits, cache = forward_with_cache(model, next_id[:, None], cache)
    return ids
    # END SOLUTION


def stream_decode(ids: Iterable[int], vocab: dict[int, bytes]) -> Iterator[str]:
    """Print text while it is being generated / 流式解码：边生成边输出.

    A token is a byte string (``vocab[id]``, as made by the BPE tokenizer), and one
    character may be split across tokens: "北" is the three UTF-8 bytes e5 8c 97, which may
    come as b"\\xe5\\x8c" then b"\\x97...". Decoding each token alone would print "�".
    Keep the bytes that do not yet form a whole character and yield text as soon as it is
    complete: after each token, everything that can be decoded so far.

    ``ids`` may be a one-pass iterator (e.g. tokens arriving from ``generate``): take one id
    at a time and yield before asking for the next one (never ``list(ids)`` first).
    Empty strings need not be yielded. Hint: ``codecs.getincrementaldecoder("utf-8")``.

    Args:
        ids: an iterable of token ids (ints).
        vocab: id -> the token's bytes.
    Yields:
        str pieces; "".join(pieces) == ``bpe_decode(list(ids), vocab)``, i.e. the bytes
        joined and decoded as UTF-8 (``errors="replace"``), for valid UTF-8.

    一个汉字是 3 个字节，可能被分在两个 token 里；字节凑齐一个完整的字之后再输出，
    每读入一个 token 就输出目前能解码的全部文字。

    Lecture: §0 引言 (在本地部署类 ChatGPT 语言模型).
    """
    # TODO: an incremental UTF-8 decoder (errors="replace"); for each id, feed vocab[id]
    #       and yield what it returns (when not empty); at the end, flush with final=True.
    # BEGIN SOLUTION
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for i in ids:
        text = decoder.decode(vocab[i])
        if text:
            yield text
    tail = decoder.decode(b"", final=True)                          # an unfinished character
    if tail:
        yield tail
    # END SOLUTION
