"""objectives written another way: mask_tokens draws the selection with torch.bernoulli and
the mask / random / keep split with one torch.multinomial over the selected positions only,
then writes into a clone of ids; masked_lm_loss is logsumexp minus the gathered target logit
(no F.cross_entropy); next_token_loss uses F.cross_entropy's [B, V, L] layout with a weight
mask, in float64 inside, without calling masked_lm_loss; sft_loss builds its target mask
over the L-1 shifted targets and computes its own log_softmax loss, without next_token_loss."""

import torch
import torch.nn.functional as F

_SPLIT = (0.8, 0.1, 0.1)          # [MASK], random id, unchanged


def mask_tokens(ids, mask_token_id, vocab_size, mlm_probability=0.15, special_tokens_mask=None,
                generator=None):
    if not (0.0 <= mlm_probability <= 1.0):
        raise ValueError(f"mlm_probability is a probability, in [0, 1]; got {mlm_probability}")
    probs = torch.full(ids.shape, float(mlm_probability), dtype=torch.float64, device=ids.device)
    if special_tokens_mask is not None:
        probs = probs.masked_fill(special_tokens_mask, 0.0)
    selected = torch.bernoulli(probs, generator=generator).bool()
    inputs, labels = ids.clone(), torch.full_like(ids, -100)
    labels[selected] = ids[selected]
    n = int(selected.sum())
    if n:
        how = torch.multinomial(torch.tensor(_SPLIT, dtype=torch.float64), n, replacement=True,
                                generator=generator)
        random_ids = torch.randint(0, vocab_size, (n,), generator=generator, dtype=ids.dtype, device=ids.device)
        original = ids[selected]
        new = torch.where(how == 0, torch.full_like(original, mask_token_id),
                          torch.where(how == 1, random_ids, original))
        inputs[selected] = new
    return inputs, labels


def masked_lm_loss(logits, labels):
    if tuple(logits.shape[:-1]) != tuple(labels.shape):
        raise ValueError(f"labels {tuple(labels.shape)} must be logits.shape[:-1] = {tuple(logits.shape[:-1])}")
    counted = labels != -100
    safe = torch.where(counted, labels, torch.zeros_like(labels))
    target_logit = logits.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    nll = torch.logsumexp(logits, dim=-1) - target_logit
    total = torch.where(counted, nll, torch.zeros_like(nll)).sum()
    return total / max(int(counted.sum()), 1)


def next_token_loss(logits, ids, attention_mask=None):
    if logits.shape[:-1] != ids.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and ids {tuple(ids.shape)} disagree")
    targets = ids[:, 1:]
    weight = torch.ones_like(targets, dtype=torch.float64) if attention_mask is None \
        else attention_mask[:, 1:].to(torch.float64)
    ce = F.cross_entropy(logits[:, :-1].double().transpose(1, 2), targets, reduction="none")   # (B, L-1)
    loss = (ce * weight).sum() / weight.sum().clamp(min=1.0)
    return loss.to(logits.dtype)


def sft_loss(logits, ids, prompt_lengths, attention_mask=None):
    if logits.shape[:-1] != ids.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and ids {tuple(ids.shape)} disagree")
    L = ids.shape[1]
    target_pos = torch.arange(1, L, device=ids.device)                  # position of each target
    counted = target_pos.unsqueeze(0) >= prompt_lengths.unsqueeze(1)    # (B, L-1)
    if attention_mask is not None:
        counted = counted & attention_mask[:, 1:]
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    picked = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (-picked[counted]).sum() / counted.sum().clamp(min=1)
