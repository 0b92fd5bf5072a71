"""generation written another way: forward_with_cache does its own head split (view +
transpose), computes the attention with einsum in float64 with a position-comparison mask and
masked_fill(-1e9), then casts back; top_p_filter keeps a token when the probability of the
tokens strictly more probable than it (an exclusive cumulative sum in descending order,
float64) is below top_p — the same rule as transformers' ascending cumsum <= 1 - top_p;
repetition_penalty builds a [B, V] "seen" mask with scatter and applies torch.where;
generate_cached keeps its tokens in a list, does top-k by scattering the top-k indices into a
keep mask, and samples with the Gumbel-max trick (argmax of logits + Gumbel noise drawn from
the generator) instead of torch.multinomial; stream_decode keeps a byte buffer and cuts it at
the last whole character with a helper module (helpers_generation) instead of codecs."""

import math as _math

import torch as _torch
from helpers_generation import complete_prefix_length as _complete_prefix_length


def _heads(t, n_heads):
    b, length, d = t.shape
    return t.view(b, length, n_heads, d // n_heads).transpose(1, 2)


def forward_with_cache(model, ids, cache=None):
    batch, new = ids.shape
    past = 0 if cache is None or len(cache) == 0 else int(cache[0][0].size(-2))
    limit = model.pos_emb.num_embeddings
    if past + new > limit:
        raise ValueError(f"positions up to {past + new - 1} requested, but max_len is {limit}")
    positions = _torch.arange(past, past + new, device=ids.device)
    x = model.tok_emb(ids) + model.pos_emb(positions)[None]
    key_pos = _torch.arange(past + new, device=ids.device)
    allowed = key_pos[None, :] <= positions[:, None]                    # (T, P+T)
    fresh = []
    for i, block in enumerate(model.blocks):
        attn = block.attn
        n_heads = attn.n_heads
        h = block.ln1(x)
        q = _heads(attn.q_proj(h), n_heads)
        k = _heads(attn.k_proj(h), n_heads)
        v = _heads(attn.v_proj(h), n_heads)
        if cache is not None and len(cache) > 0:
            k = _torch.cat((cache[i][0], k), dim=-2)
            v = _torch.cat((cache[i][1], v), dim=-2)
        fresh.append((k, v))
        scale = 1.0 / _math.sqrt(q.shape[-1])
        scores = _torch.einsum("bhtd,bhsd->bhts", q.double(), k.double()) * scale
        scores = scores.masked_fill(~allowed, -1e9)
        weights = _torch.softmax(scores, dim=-1)
        ctx = _torch.einsum("bhts,bhsd->bhtd", weights, v.double()).to(x.dtype)
        merged = ctx.transpose(1, 2).reshape(batch, new, -1)
        x = x + attn.o_proj(merged)
        x = x + block.ffn(block.ln2(x))
    return model.lm_head(model.ln_f(x)), fresh


def top_p_filter(logits, top_p):
    if not (top_p > 0 and top_p <= 1):
        raise ValueError(f"top_p has to lie in (0, 1], got {top_p}")
    if top_p == 1:
        return logits.clone()
    desc, order = _torch.sort(logits, dim=-1, descending=True)
    probs = _torch.softmax(desc.to(_torch.float64), dim=-1)
    above = _torch.cumsum(probs, dim=-1) - probs                       # mass strictly more probable
    keep_sorted = above < top_p
    keep_sorted[..., 0] = True
    keep = _torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return _torch.where(keep, logits, _torch.full_like(logits, float("-inf")))


def repetition_penalty(logits, ids, penalty):
    if not penalty > 0:
        raise ValueError(f"penalty has to be positive, got {penalty}")
    seen = _torch.zeros(logits.shape, dtype=_torch.bool, device=logits.device)
    if ids.numel():
        seen = seen.scatter(-1, ids, True)
    penalised = _torch.where(logits > 0, logits / penalty, logits * penalty)
    return _torch.where(seen, penalised, logits)


def _next_token(scores, history, temperature, top_k, top_p, penalty, generator):
    if penalty != 1.0:
        scores = repetition_penalty(scores, history, penalty)
    if temperature == 0:
        return scores.argmax(dim=-1)
    scores = scores / temperature
    vocab = scores.shape[-1]
    if top_k is not None and top_k < vocab:
        top = scores.topk(top_k, dim=-1).indices
        keep = _torch.zeros_like(scores, dtype=_torch.bool).scatter(-1, top, True)
        scores = scores.masked_fill(~keep, float("-inf"))
    if top_p is not None:
        scores = top_p_filter(scores, top_p)
    u = _torch.rand(scores.shape, generator=generator, dtype=_torch.float64, device=scores.device)
    u = u.clamp_(min=1e-300, max=1.0 - 1e-16)
    gumbel = -_torch.log(-_torch.log(u))
    return (scores.to(_torch.float64) + gumbel).argmax(dim=-1)


def generate_cached(model, ids, max_new_tokens, temperature=0.0, top_k=None, top_p=None,
                    repetition_penalty=1.0, eos_id=None, generator=None):
    limit = model.pos_emb.num_embeddings
    if max_new_tokens < 0:
        raise ValueError("max_new_tokens must not be negative")
    if ids.shape[1] + max_new_tokens > limit:
        raise ValueError(f"prompt of {ids.shape[1]} plus {max_new_tokens} new tokens exceeds max_len {limit}")
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if top_k is not None and top_k < 1:
        raise ValueError("top_k must be >= 1")
    if top_p is not None and not (0 < top_p <= 1):
        raise ValueError("top_p must be in (0, 1]")
    if repetition_penalty <= 0:
        raise ValueError("repetition_penalty must be > 0")
    penalty = repetition_penalty
    tokens = [ids[:, j] for j in range(ids.shape[1])]
    with _torch.no_grad():
        done = _torch.zeros(ids.shape[0], dtype=_torch.bool, device=ids.device)
        feed, cache = ids, None
        for produced in range(max_new_tokens):
            logits, cache = forward_with_cache(model, feed, cache)
            history = _torch.stack(tokens, dim=1)
            nxt = _next_token(logits[:, -1, :], history, temperature, top_k, top_p, penalty, generator)
            if eos_id is not None:
                nxt = _torch.where(done, _torch.full_like(nxt, eos_id), nxt)
                done = done | (nxt == eos_id)
            tokens.append(nxt.to(ids.dtype))
            if eos_id is not None and bool(done.all()):
                break
            if produced + 1 < max_new_tokens:
                feed = tokens[-1].unsqueeze(1)
    return _torch.stack(tokens, dim=1)


def stream_decode(ids, vocab):
    pending = b""
    for token in ids:
        pending += vocab[token]
        cut = _complete_prefix_length(pending)
        if cut:
            ready, pending = pending[:cut], pending[cut:]
            yield ready.decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")
