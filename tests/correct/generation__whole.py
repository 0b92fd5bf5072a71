"""A local chat model, whole file in a student's own style.

* imports none of the other exercises' functions: heads are split with ``view`` /
  ``transpose`` and attention is ``F.scaled_dot_product_attention`` with a boolean mask
  (``models`` is imported only under ``TYPE_CHECKING`` for the annotations);
* the cache is a list of ``KV`` named tuples (any (k, v) pairs are accepted back);
* ``top_p_filter`` sorts descending and keeps a token while the mass before it is < top_p;
  ``repetition_penalty`` builds a presence mask; sampling uses the Gumbel-max trick with
  ``torch.rand(generator=...)``; ``generate_cached`` has keyword-only options, runs under
  ``torch.inference_mode`` and drives a private token generator;
* ``stream_decode`` decodes UTF-8 by hand (holds back an unfinished trailing character);
* a module-level ``print`` and ``warnings.filterwarnings`` at import, and a ``__main__`` demo.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from models import MiniGPT

__all__ = ["forward_with_cache", "top_p_filter", "repetition_penalty", "generate_cached", "stream_decode"]

warnings.filterwarnings("ignore", message=".*scaled_dot_product_attention.*")
print("generation: KV-cache helpers ready")  # noqa: T201

NEG_INF = -math.inf


class KV(NamedTuple):
    k: Tensor
    v: Tensor


def _heads(x: Tensor, n_heads: int) -> Tensor:
    b, t, d = x.shape
    return x.view(b, t, n_heads, d // n_heads).transpose(1, 2)


def _unheads(x: Tensor) -> Tensor:
    b, h, t, dh = x.shape
    return x.transpose(1, 2).reshape(b, t, h * dh)


def _past_length(cache) -> int:
    if cache is None or len(cache) == 0:
        return 0
    return int(cache[0][0].shape[-2])


def forward_with_cache(model: MiniGPT, ids: Tensor, cache: list[tuple[Tensor, Tensor]] | None = None
                       ) -> tuple[Tensor, list[KV]]:
    new_tokens = ids.shape[-1]
    past = _past_length(cache)
    limit = model.pos_emb.num_embeddings
    if past + new_tokens > limit:
        raise ValueError(f"positions {past}..{past + new_tokens - 1} do not fit max_len={limit}")
    positions = torch.arange(past, past + new_tokens, device=ids.device)
    x = model.tok_emb(ids) + model.pos_emb(positions)[None]
    # query t (absolute position past + t) may see keys 0 .. past + t
    allowed = torch.arange(past + new_tokens, device=ids.device)[None, :] <= positions[:, None]
    out_cache: list[KV] = []
    for layer, block in enumerate(model.blocks):
        attn = block.attn
        h = block.ln1(x)
        q = _heads(attn.q_proj(h), attn.n_heads)
        k = _heads(attn.k_proj(h), attn.n_heads)
        v = _heads(attn.v_proj(h), attn.n_heads)
        if past:
            k_old, v_old = cache[layer]
            k, v = torch.cat((k_old, k), dim=-2), torch.cat((v_old, v), dim=-2)
        mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + attn.o_proj(_unheads(mixed))
        x = x + block.ffn(block.ln2(x))
        out_cache.append(KV(k, v))
    return model.lm_head(model.ln_f(x)), out_cache


def top_p_filter(logits: Tensor, top_p: float) -> Tensor:
    if not (0.0 < top_p <= 1.0):
        raise ValueError(f"top_p has to be in (0, 1], got {top_p}")
    if top_p >= 1.0:
        return logits.clone()
    desc, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(desc, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs          # probability of the more likely tokens
    drop_sorted = mass_before >= top_p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return torch.where(drop, torch.full_like(logits, NEG_INF), logits)


def repetition_penalty(logits: Tensor, ids: Tensor, penalty: float) -> Tensor:
    if penalty <= 0:
        raise ValueError(f"penalty must be positive, got {penalty}")
    present = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    present.scatter_(-1, ids.long(), True)
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(present, penalised, logits)


def _top_k(scores: Tensor, k: int | None) -> Tensor:
    if k is None or k >= scores.shape[-1]:
        return scores
    kth = torch.topk(scores, k, dim=-1).values[..., -1:]
    return scores.masked_fill(scores < kth, NEG_INF)


def _gumbel_sample(scores: Tensor, generator: torch.Generator | None) -> Tensor:
    u = torch.rand(scores.shape, generator=generator, dtype=torch.float64, device=scores.device)
    gumbel = -torch.log(-torch.log(u.clamp_min(1e-300)))
    return torch.argmax(scores.double() + gumbel, dim=-1)


def _tokens(model, ids: Tensor, steps: int, *, temperature: float, top_k: int | None, top_p: float | None,
            penalty: float, generator: torch.Generator | None) -> Iterator[tuple[Tensor, Tensor]]:
    """Yields (next token [B], sequence so far [B, L]) one step at a time."""
    seq = ids
    logits, cache = forward_with_cache(model, ids)
    for step in range(steps):
        scores = logits[:, -1, :]
        if penalty != 1.0:
            scores = repetition_penalty(scores, seq, penalty)
        if temperature == 0:
            token = scores.argmax(dim=-1)
        else:
            scores = _top_k(scores / temperature, top_k)
            if top_p is not None:
                scores = top_p_filter(scores, top_p)
            token = _gumbel_sample(scores, generator)
        token = yield token, seq
        seq = torch.cat((seq, token[:, None]), dim=1)
        if step + 1 < steps:
            logits, cache = forward_with_cache(model, token[:, None], cache)


@torch.inference_mode()
def generate_cached(model: MiniGPT, ids: Tensor, max_new_tokens: int, *, temperature: float = 0.0,
                    top_k: int | None = None, top_p: float | None = None, repetition_penalty: float = 1.0,
                    eos_id: int | None = None, generator: torch.Generator | None = None) -> Tensor:
    prompt_len, limit = ids.shape[1], model.pos_emb.num_embeddings
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if prompt_len + max_new_tokens > limit:
        raise ValueError(f"{prompt_len} + {max_new_tokens} tokens exceed max_len={limit}")
    if temperature < 0:
        raise ValueError("temperature must be >= 0")
    if top_k is not None and top_k < 1:
        raise ValueError("top_k must be >= 1")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError("top_p must be in (0, 1]")
    if repetition_penalty <= 0:
        raise ValueError("repetition_penalty must be > 0")
    out = ids.clone()
    if max_new_tokens == 0:
        return out
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    steps = _tokens(model, ids, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                    penalty=repetition_penalty, generator=generator)
    token, _ = next(steps)
    while True:
        if eos_id is not None:
            token = torch.where(done, torch.full_like(token, eos_id), token)
            done |= token == eos_id
        out = torch.cat((out, token[:, None]), dim=1)
        if out.shape[1] - prompt_len == max_new_tokens or (eos_id is not None and bool(done.all())):
            steps.close()
            return out
        token, _ = steps.send(token)


def _incomplete_tail(buf: bytes) -> int:
    """How many trailing bytes start a UTF-8 character that is not complete yet."""
    for back in range(1, min(4, len(buf)) + 1):
        byte = buf[-back]
        if byte & 0xC0 == 0x80:            # a continuation byte: look further back
            continue
        need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        return back if need > back else 0
    return 0


def stream_decode(ids: Iterable[int], vocab: dict[int, bytes]) -> Iterator[str]:
    pending = b""
    for token_id in ids:
        pending += vocab[token_id]
        keep = _incomplete_tail(pending)
        ready, pending = (pending[:-keep], pending[-keep:]) if keep else (pending, b"")
        if ready:
            yield ready.decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")


if __name__ == "__main__":
    table = {i: bytes([i]) for i in range(256)} | {256: "北京".encode()[:4], 257: "北京".encode()[4:]}
    print(list(stream_decode([256, 257, 33], table)))  # noqa: T201
