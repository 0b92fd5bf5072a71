"""Build ``grader/data/alignment.npz``: the preference task that ``dpo_train`` is judged on.

Run from the repository root (needs the reference solutions, which are not shipped):

    python grader/data/make_alignment_data.py            # writes grader/data/alignment.npz
    python grader/data/make_alignment_data.py --measure  # only measures the existing file

The task (seeded, so the file is reproducible up to float rounding): the user sends 3 to 6
distinct letters from "abcdefgh" in a random order; the assistant answers with the same
letters in some order. People prefer the answer in alphabetical order:

    <|user|>\\ndbf<|end|>\\n<|assistant|>\\nbdf<|end|>\\n      chosen
    <|user|>\\ndbf<|end|>\\n<|assistant|>\\nfbd<|end|>\\n      rejected (another order)

Half of the rejected answers are near misses (the sorted order with one adjacent pair
swapped, "bfd"), the other half uniformly random other orders.

A MiniGPT (V=14, max_len=24, D=32, H=2, 2 layers, d_ff=64) is instruction-tuned (SFT) on
4,096 conversations whose answers are UNIFORMLY random orders of the prompt's letters: it
learns the format and that an answer is a permutation of the prompt, but has no preference
for the sorted one. Policy and reference both start from it, so before DPO every implicit
reward β·(log π - log π_ref) is exactly 0 and the held-out preference accuracy (chosen
ranked strictly above rejected) is 0. The tokens are characters, the markers single tokens
(``VOCAB``), encoded with the reference ``build_sft_example`` and padded with ``collate``.

File contents (np.savez_compressed, plain arrays, load with np.load(allow_pickle=False)):
    model/<name>      float32, the MiniGPT state_dict (tok_emb.weight and the tied
                      lm_head.proj.weight both present, as state_dict() gives them)
    config/<name>     0-d int64: vocab_size, max_len, d_model, n_heads, n_layers, d_ff,
                      pad_id, seed
    vocab             str [V], the token of each id
    {train,test}_{chosen,rejected}_{ids,labels,mask}
                      int64 / int64 / bool [N, L] as returned by collate (N = 256 train,
                      256 test pairs; row i of chosen and rejected is one pair)

Measured with ``--measure`` (CPU time, ``time.process_time()``, one process, 2-core CPU
shared with other jobs, torch 2.13, torch.set_num_threads(1)):
- building the file: ~66 s wall (SFT 1500 steps; loss per answer token 21.5 -> ~1.0, about
  log of the number of letters left to place), 97 KiB;
- reference dpo_train (beta 0.1, 2 epochs, lr 3e-3, batches of 32 pairs, chosen and
  rejected in one forward), held-out preference accuracy: seed 0: 0.965, seed 1: 0.984,
  seed 2: 0.977, seed 3: 0.973, seed 4: 0.988, each in 0.16-0.17 s (the former reference, 4
  epochs with two forwards per step, 0.37 s); other reasonable choices also pass: 4 epochs
  0.996, 8 epochs 1.000, lr 1e-3 0.965 (6 epochs: 0.980), beta 0.5 0.980, beta 0.05 0.969,
  1 epoch 0.945, even a single step (one batch of 32 pairs) 0.906;
- the three runs of dpo_train_seed (40 pairs, 1 epoch): 0.06 s;
- baselines: no training (policy = reference) 0.000 (every implicit reward is 0, nothing
  is ranked strictly above), chosen and rejected swapped 0.016, the reference plus
  N(0, 0.01) noise on every weight 0.3-0.5 (unseeded); SFT on the chosen answers alone 1.000
  (the task is easy on purpose: it judges that the loop trains the right model in the right
  direction, the losses themselves are compared with the reference elsewhere).
So a pass mark of 0.90 separates a DPO loop that works from one that does not learn, or
learns the wrong way round.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "alignment.npz"

SEED = 20240617
LETTERS = "abcdefgh"
VOCAB = ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "\n", *LETTERS]
PAD = 0
MIN_LETTERS, MAX_LETTERS = 3, 6
CONFIG = dict(vocab_size=len(VOCAB), max_len=24, d_model=32, n_heads=2, n_layers=2, d_ff=64)
N_SFT, N_TRAIN, N_TEST = 4096, 256, 256
SFT_STEPS, SFT_BATCH, SFT_LR = 1500, 64, 3e-3
P_NEAR = 0.5

def draw_prompt(rng: np.random.Generator) -> str:
    n = int(rng.integers(MIN_LETTERS, MAX_LETTERS + 1))
    return "".join(rng.permutation(list(LETTERS))[:n])


def another_order(rng: np.random.Generator, letters: str) -> str:
    """A worse answer: with probability P_NEAR the sorted order with one adjacent pair
    swapped (a near miss), otherwise a uniformly random order other than the sorted one."""
    ordered = sorted(letters)
    if rng.random() < P_NEAR:
        i = int(rng.integers(len(ordered) - 1))
        ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
        return "".join(ordered)
    while True:
        answer = "".join(rng.permutation(list(letters)))
        if answer != "".join(sorted(letters)):
            return answer


def chat(prompt: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def draw_pairs(rng: np.random.Generator, n: int, avoid: set | None = None) -> list[tuple[str, str, str]]:
    """n (prompt, chosen, rejected) triples, none of them in ``avoid``."""
    out: list[tuple[str, str, str]] = []
    seen = set(avoid or ())
    while len(out) < n:
        prompt = draw_prompt(rng)
        triple = (prompt, "".join(sorted(prompt)), another_order(rng, prompt))
        if triple not in seen:
            seen.add(triple)
            out.append(triple)
    return out


def _solutions():
    if str(ROOT / "solutions") not in sys.path:
        sys.path.insert(0, str(ROOT / "solutions"))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import alignment

    from grader.protocol.values import CharEncoder

    return alignment, CharEncoder({t: i for i, t in enumerate(VOCAB)})


def encode_chats(chats: list[list[dict]]):
    """collate([build_sft_example(c, encode) for c in chats], PAD) with the reference."""
    alignment, encode = _solutions()
    return alignment.collate([alignment.build_sft_example(c, encode) for c in chats], PAD)


def instruction_tune(seed: int):
    """SFT of a MiniGPT on conversations whose answers are random orders of the prompt."""
    import torch

    alignment, _ = _solutions()
    from models import MiniGPT

    rng = np.random.default_rng(seed)
    chats = []
    for _ in range(N_SFT):
        prompt = draw_prompt(rng)
        chats.append(chat(prompt, "".join(rng.permutation(list(prompt)))))
    ids, labels, _ = encode_chats(chats)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = MiniGPT(**CONFIG)
    opt = torch.optim.AdamW(model.parameters(), lr=SFT_LR, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, SFT_LR, total_steps=SFT_STEPS)
    for step in range(SFT_STEPS):
        idx = torch.randint(len(ids), (SFT_BATCH,), generator=gen)
        logp = alignment.sequence_logprob(model(ids[idx]), ids[idx], labels[idx])
        loss = -logp.sum() / (labels[idx, 1:] != -100).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 300 == 0 or step == SFT_STEPS - 1:
            print(f"sft step {step:5d}  loss per answer token {loss.item():.3f}")
    return model.eval()


def build(path: Path = OUT) -> None:
    rng = np.random.default_rng(SEED)
    train = draw_pairs(rng, N_TRAIN)
    test = draw_pairs(rng, N_TEST, avoid=set(train))
    model = instruction_tune(SEED)
    arrays = {f"model/{k}": v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    config = dict(CONFIG, pad_id=PAD, seed=SEED)
    arrays.update({f"config/{k}": np.array(v, dtype=np.int64) for k, v in config.items()})
    arrays["vocab"] = np.array(VOCAB)
    for split, triples in (("train", train), ("test", test)):
        for side, k in (("chosen", 1), ("rejected", 2)):
            ids, labels, mask = encode_chats([chat(t[0], t[k]) for t in triples])
            arrays.update({f"{split}_{side}_ids": ids.numpy(), f"{split}_{side}_labels": labels.numpy(),
                           f"{split}_{side}_mask": mask.numpy()})
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")


def load(path: Path = OUT):
    """(config dict of ints, state_dict of float32 tensors, dict of data tensors)."""
    import torch

    with np.load(path, allow_pickle=False) as f:
        config = {k[len("config/"):]: int(f[k]) for k in f.files if k.startswith("config/")}
        state = {k[len("model/"):]: torch.from_numpy(f[k]) for k in f.files if k.startswith("model/")}
        data = {k: torch.from_numpy(f[k]) for k in f.files if "/" not in k and k != "vocab"}
    return config, state, data


def batch(data: dict, split: str, side: str):
    return tuple(data[f"{split}_{side}_{k}"] for k in ("ids", "labels", "mask"))


def preference_accuracy(policy, reference, data, beta: float = 0.1) -> float:
    """Held-out pairs whose implicit reward ranks chosen strictly above rejected."""
    import torch

    alignment, _ = _solutions()
    with torch.no_grad():
        rewards = []
        for side in ("chosen", "rejected"):
            ids, labels, _ = batch(data, "test", side)
            rewards.append(beta * (alignment.sequence_logprob(policy(ids), ids, labels)
                                   - alignment.sequence_logprob(reference(ids), ids, labels)))
    return (rewards[0] > rewards[1]).double().mean().item()


def measure(path: Path = OUT, seeds=(0, 1, 2, 3, 4)) -> None:
    """What the reference dpo_train reaches, variants a student might choose, and baselines."""
    import torch

    alignment, _ = _solutions()
    from models import MiniGPT

    torch.set_num_threads(1)
    config, state, data = load(path)
    keys = ("vocab_size", "max_len", "d_model", "n_heads", "n_layers", "d_ff")

    def fresh():
        m = MiniGPT(**{k: config[k] for k in keys})
        m.load_state_dict(state)
        return m

    policy, reference = fresh(), fresh()
    train = batch(data, "train", "chosen"), batch(data, "train", "rejected")
    print(f"before training: accuracy {preference_accuracy(policy, reference, data):.3f}")
    alignment.dpo_train(policy, reference, *train, epochs=1)          # warm-up (first-call costs)
    runs = [dict(seed=s) for s in seeds] + [
        dict(epochs=4), dict(epochs=8), dict(lr=1e-3), dict(lr=1e-3, epochs=6), dict(beta=0.5),
        dict(beta=0.05), dict(epochs=1),
    ]
    for kwargs in runs:
        t0 = time.process_time()
        trained = alignment.dpo_train(policy, reference, *train, **kwargs)
        took = time.process_time() - t0
        print(f"dpo_train({kwargs}): held-out accuracy "
              f"{preference_accuracy(trained, reference, data):.3f} in {took:.2f} s CPU")
    one_step = tuple(tuple(x[:alignment.BATCH_SIZE] for x in side) for side in train)
    print(f"a single step (one epoch of one batch): "
          f"{preference_accuracy(alignment.dpo_train(policy, reference, *one_step, epochs=1), reference, data):.3f}")
    short = tuple(tuple(x[:40] for x in side) for side in train)
    t0 = time.process_time()
    for s in (1, 1, 2):
        alignment.dpo_train(policy, reference, *short, epochs=1, seed=s)
    print(f"dpo_train_seed's three runs (40 pairs, 1 epoch): {time.process_time() - t0:.3f} s CPU")
    swapped = alignment.dpo_train(policy, reference, train[1], train[0])
    print(f"chosen and rejected swapped: {preference_accuracy(swapped, reference, data):.3f}")
    noisy = fresh()
    with torch.no_grad():
        for p in noisy.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    print(f"policy = reference + noise(0.01): {preference_accuracy(noisy, reference, data):.3f}")
    # SFT on the chosen answers only (no rejected, no reference): what "just imitate" reaches
    sft = fresh().train()
    opt = torch.optim.AdamW(sft.parameters(), lr=3e-3)
    ids, labels, _ = train[0]
    t0 = time.process_time()
    for _ in range(4):
        for idx in torch.randperm(len(ids), generator=torch.Generator().manual_seed(0)).split(32):
            loss = -alignment.sequence_logprob(sft(ids[idx]), ids[idx], labels[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    print(f"SFT on chosen only (4 epochs): {preference_accuracy(sft.eval(), reference, data):.3f} "
          f"in {time.process_time() - t0:.2f} s CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="only measure the existing file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.measure:
        t0 = time.perf_counter()
        build(args.out)
        print(f"built in {time.perf_counter() - t0:.1f} s")
    measure(args.out)
