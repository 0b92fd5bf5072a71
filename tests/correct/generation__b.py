"""generation written a second other way: forward_with_cache splits heads with unflatten /
transpose, runs torch's F.scaled_dot_product_attention (is_causal for a prompt without a
cache, no mask at all for one new token, a bool mask otherwise), walks the blocks zipped with
the cache, and returns a list of [k, v] LISTS (not tuples); top_p_filter runs under
torch.no_grad() (a sampling filter: nothing differentiates through it), works in float64
probabilities, counts how many of the least probable tokens go (the ascending cumsum is
monotone) and removes by rank (argsort of the stable argsort) instead of scattering a mask;
repetition_penalty loops over rows with torch.unique and indexed assignment into a clone;
generate_cached always applies the penalty (penalty 1 is an exact no-op), does top-k with
torch.kthvalue BEFORE dividing by the temperature (the same set: a positive scale keeps the
order), samples by inverse CDF (float64 torch.rand from the generator, searchsorted on the
cumulative probabilities scaled by their total), writes into a preallocated output and
returns the prompt tensor itself for max_new_tokens = 0; stream_decode uses the low-level
codecs.utf_8_decode(buffer, "replace", final) and keeps the unconsumed bytes."""

import codecs as _codecs

import torch as _torch
import torch.nn.functional as _F


def _split(t, n_heads):
    return t.unflatten(-1, (n_heads, -1)).transpose(1, 2)              # (B, H, T, dh)


def forward_with_cache(model, ids, cache=None):
    n_new = ids.shape[1]
    cached = 0 if not cache else int(cache[0][0].shape[-2])
    if cached + n_new > model.pos_emb.num_embeddings:
        raise ValueError(f"{cached} cached + {n_new} new tokens do not fit max_len "
                         f"{model.pos_emb.num_embeddings}")
    x = model.tok_emb(ids) + model.pos_emb(_torch.arange(cached, cached + n_new, device=ids.device))
    pasts = cache if cache else [None] * len(model.blocks)
    new_cache = []
    for block, past in zip(model.blocks, pasts):
        attn = block.attn
        h = block.ln1(x)
        q = _split(attn.q_proj(h), attn.n_heads)
        k = _split(attn.k_proj(h), attn.n_heads)
        v = _split(attn.v_proj(h), attn.n_heads)
        if past is not None:
            k = _torch.cat((past[0], k), dim=-2)
            v = _torch.cat((past[1], v), dim=-2)
        if past is None:
            out = _F.scaled_dot_product_attention(q, k, v, is_causal=n_new > 1)
        elif n_new == 1:
            out = _F.scaled_dot_product_attention(q, k, v)
        else:
            key_pos = _torch.arange(cached + n_new, device=ids.device)
            query_pos = _torch.arange(cached, cached + n_new, device=ids.device)
            allowed = key_pos[None, :] <= query_pos[:, None]
            out = _F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + attn.o_proj(out.transpose(1, 2).flatten(2))
        x = x + block.ffn(block.ln2(x))
        new_cache.append([k, v])
    return model.lm_head(model.ln_f(x)), new_cache


@_torch.no_grad()
def top_p_filter(logits, top_p):
    if not (0.0 < top_p <= 1.0):
        raise ValueError(f"top_p={top_p} is outside (0, 1]")
    if top_p >= 1.0:
        return logits.clone()
    probs = _torch.softmax(logits.to(_torch.float64), dim=-1)
    order = _torch.argsort(logits, dim=-1, stable=True)                 # ascending
    cum = probs.gather(-1, order).cumsum(dim=-1)
    n_out = (cum <= 1.0 - top_p).sum(dim=-1, keepdim=True).clamp(max=logits.shape[-1] - 1)
    rank = _torch.argsort(order, dim=-1)                                # each token's place, ascending
    return logits.masked_fill(rank < n_out, float("-inf"))


def repetition_penalty(logits, ids, penalty):
    if not penalty > 0:
        raise ValueError(f"penalty={penalty} must be positive")
    out = logits.clone()
    for b in range(logits.shape[0]):
        present = _torch.unique(ids[b])
        if present.numel() == 0:
            continue
        values = logits[b, present]
        out[b, present] = _torch.where(values > 0, values / penalty, values * penalty)
    return out


def _sample(scores, generator):
    probs = _torch.softmax(scores.to(_torch.float64), dim=-1)
    cdf = probs.cumsum(dim=-1)
    u = _torch.rand((scores.shape[0], 1), generator=generator, dtype=_torch.float64, device=scores.device)
    picked = _torch.searchsorted(cdf, u * cdf[:, -1:], right=True)
    return picked.squeeze(-1).clamp_(max=scores.shape[-1] - 1)


def generate_cached(model, ids, max_new_tokens, temperature=0.0, top_k=None, top_p=None,
                    repetition_penalty=1.0, eos_id=None, generator=None):
    prompt_len = ids.shape[1]
    limit = model.pos_emb.num_embeddings
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} is negative")
    if prompt_len + max_new_tokens > limit:
        raise ValueError(f"{prompt_len} + {max_new_tokens} tokens exceed max_len {limit}")
    if temperature < 0:
        raise ValueError(f"temperature={temperature} is negative")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k} must be at least 1")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p} is outside (0, 1]")
    if not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty={repetition_penalty} must be positive")
    if max_new_tokens == 0:
        return ids
    penalty = repetition_penalty
    batch = ids.shape[0]
    out = ids.new_zeros((batch, prompt_len + max_new_tokens))
    out[:, :prompt_len] = ids
    done = _torch.zeros(batch, dtype=_torch.bool, device=ids.device)
    length = prompt_len
    with _torch.no_grad():
        logits, cache = forward_with_cache(model, ids)
        while True:
            scores = globals()["repetition_penalty"](logits[:, -1, :], out[:, :length], penalty)
            if temperature == 0:
                nxt = scores.argmax(dim=-1)
            else:
                vocab = scores.shape[-1]
                if top_k is not None and top_k < vocab:
                    kth = _torch.kthvalue(scores, vocab - top_k + 1, dim=-1, keepdim=True).values
                    scores = scores.masked_fill(scores < kth, float("-inf"))
                scores = scores / temperature
                if top_p is not None:
                    scores = top_p_filter(scores, top_p)
                nxt = _sample(scores, generator)
            if eos_id is not None:
                nxt = _torch.where(done, _torch.full_like(nxt, eos_id), nxt)
                done |= nxt == eos_id
            out[:, length] = nxt
            length += 1
            if length == prompt_len + max_new_tokens or (eos_id is not None and bool(done.all())):
                break
            logits, cache = forward_with_cache(model, out[:, length - 1:length], cache)
    return out[:, :length]


def stream_decode(ids, vocab):
    pending = b""
    for i in ids:
        pending += vocab[i]
        text, used = _codecs.utf_8_decode(pending, "replace", False)
        pending = pending[used:]
        if text:
            yield text
    if pending:
        text, _ = _codecs.utf_8_decode(pending, "replace", True)
        if text:
            yield text
