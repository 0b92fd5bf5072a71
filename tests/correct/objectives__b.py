"""objectives written a second other way: mask_tokens draws ONE float64 uniform per position and
reuses it (u < p selects; u / p, uniform on [0, 1) given selection, splits 0.8 / 0.1 / 0.1),
works on the flattened ids, draws random ids only for the positions that need one, as
floor(V * uniform) in float64, and scatters them into a copy; the losses share one helper that
computes -log softmax in float64 by hand (row max subtracted, log of the sum of exponentials),
picks the target column with a one-hot product instead of gather, returns a fresh zero when
nothing counts (a Python branch, no division by a clamp), and casts back; next_token_loss and
sft_loss both build a [B, L-1] weight of counted targets and call that helper, not each other."""

import torch


def mask_tokens(ids, mask_token_id, vocab_size, mlm_probability=0.15, special_tokens_mask=None,
                generator=None):
    p = float(mlm_probability)
    if not (p >= 0.0 and p <= 1.0):
        raise ValueError(f"mask_tokens: mlm_probability must lie in [0, 1], got {mlm_probability}")
    flat = ids.reshape(-1)
    u = torch.rand(flat.shape, generator=generator, dtype=torch.float64, device=ids.device)
    chosen = u < p
    if special_tokens_mask is not None:
        chosen = chosen & ~special_tokens_mask.reshape(-1).bool()
    v = torch.where(chosen, u / max(p, 1e-300), torch.ones_like(u))     # uniform on [0, 1) when chosen
    to_mask = chosen & (v < 0.8)
    to_random = chosen & (v >= 0.8) & (v < 0.9)
    inputs = flat.clone()
    inputs[to_mask] = mask_token_id
    n_random = int(to_random.sum())
    if n_random:
        draw = torch.rand(n_random, generator=generator, dtype=torch.float64, device=ids.device)
        inputs[to_random] = (draw * vocab_size).floor().clamp(max=vocab_size - 1).to(ids.dtype)
    labels = torch.full_like(flat, -100)
    labels[chosen] = flat[chosen]
    return inputs.view(ids.shape), labels.view(ids.shape)


def _mean_nll(logits, targets, counted):
    """Mean of -log softmax(logits)[target] over the counted entries; 0.0 when none is counted."""
    n = int(counted.sum())
    if n == 0:
        return torch.zeros((), dtype=logits.dtype, device=logits.device)
    z = logits.to(torch.float64)
    z = z - z.amax(dim=-1, keepdim=True)
    log_norm = torch.log(torch.exp(z).sum(dim=-1))
    safe = torch.where(counted, targets, torch.zeros_like(targets))
    one_hot = torch.nn.functional.one_hot(safe, z.shape[-1]).to(z.dtype)
    target_logit = (z * one_hot).sum(dim=-1)
    nll = (log_norm - target_logit) * counted.to(z.dtype)
    return (nll.sum() / n).to(logits.dtype)


def _same_shape(logits, other, what):
    if tuple(logits.shape[:-1]) != tuple(other.shape):
        raise ValueError(f"logits {list(logits.shape)} need {what} of shape {list(logits.shape[:-1])}, "
                         f"got {list(other.shape)}")


def masked_lm_loss(logits, labels):
    _same_shape(logits, labels, "labels")
    return _mean_nll(logits, labels, labels != -100)


def _shifted(logits, ids, weight):
    """The next-token loss with a [B, L] bool `weight` of counted TARGET positions."""
    return _mean_nll(logits[:, :-1], ids[:, 1:], weight[:, 1:])


def next_token_loss(logits, ids, attention_mask=None):
    _same_shape(logits, ids, "ids")
    real = torch.ones_like(ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    return _shifted(logits, ids, real)


def sft_loss(logits, ids, prompt_lengths, attention_mask=None):
    _same_shape(logits, ids, "ids")
    B, L = ids.shape
    response = torch.arange(L, device=ids.device).expand(B, L) >= prompt_lengths.reshape(B, 1)
    if attention_mask is not None:
        response = torch.logical_and(response, attention_mask)
    return _shifted(logits, ids, response)
