"""Build ``grader/data/finetune.npz``: the small task that the ``finetune`` exercise is judged on.

Run from the repository root (needs the reference solutions, which are not shipped):

    python grader/data/make_finetune_data.py            # writes grader/data/finetune.npz

The synthetic language (seeded, so the file is reproducible up to float rounding):
- vocabulary of 40 ids: [PAD]=0, [CLS]=1, [MASK]=2; four "topics" of 7 content words each
  (ids 3-9, 10-16, 17-23, 24-30); 9 function words (ids 31-39) that appear in every topic.
- a sentence is [CLS] followed by 7 to 15 words, right-padded with [PAD] to 16 positions.
  Each word is a function word with probability 0.3; otherwise a content word of the
  sentence's main topic with probability 0.7, or of one of the other three topics.
- label (4 classes) = the topic with the most content words in the sentence (sentences
  with a tie are redrawn), so it is a property of the whole sentence: which words go
  together.

A MiniBERT (V=40, max_len=16, D=32, H=2, 2 layers, d_ff=64) is pre-trained on 8,192
unlabelled sentences of this language by mask filling (the reference ``mask_tokens`` +
``masked_lm_loss``, AdamW); mask filling here means guessing a hidden word from the
words around it, which needs exactly the topic structure. Then 256 labelled training and
512 held-out sentences are drawn.

File contents (np.savez_compressed, plain arrays, load with np.load(allow_pickle=False)):
    model/<name>      float32, the MiniBERT state_dict (tok_emb.weight and the tied
                      lm_head.proj.weight both present, as state_dict() gives them)
    config/<name>     0-d int64: vocab_size, max_len, d_model, n_heads, n_layers, d_ff,
                      num_labels, pad_id, cls_id, mask_id, seed
    train_ids, test_ids        int64 [N, 16]
    train_mask, test_mask      bool  [N, 16]   True at real tokens ([CLS] included)
    train_labels, test_labels  int64 [N]

Measured with ``python grader/data/make_finetune_data.py --measure`` (CPU time,
``time.process_time()``, one process on a 2-core CPU shared with other jobs, torch 2.13,
torch.set_num_threads(1); "fresh": 512 sentences drawn afresh as official mode does):
- building the file: ~14-36 s wall (pre-training 1000 steps; MLM loss 18.3 -> ~3.1), 99 KiB;
- reference finetune_classifier (r=4, alpha=8, 4 epochs, lr 1e-2, batches of 32, mean
  pooling), held-out accuracy: seed 0: 0.938 (fresh 0.939), seed 1: 0.928 (0.938), seed 2:
  0.920 (0.926), seed 3: 0.947 (0.955), seed 4: 0.926 (0.938), each in 0.18-0.20 s of CPU
  (the former default, 5 epochs at lr 5e-3 over 512 training sentences: 0.36 s); variants a
  student might choose also pass: 8 epochs 0.936, 5 epochs at lr 5e-3 0.896 (fresh 0.908),
  10 epochs at lr 5e-3 0.928, [CLS] pooling 0.88-0.90 (8 epochs 0.89-0.94);
- one epoch (8 steps): 0.668, 0.740, 0.621 (seeds 0-2; fresh 0.586-0.727);
- an untrained classifier (random ClassificationHead on the pretrained encoder, seeds
  0-9): 0.082 .. 0.303 (chance is 0.25);
- for comparison: head only, no LoRA: 0.838; LoRA + head on an untrained MiniBERT: 0.795;
- finetune_seed's three short runs (64 sentences, 1 epoch): 0.04 s.
So a pass threshold of 0.8 separates a working fine-tune from one that learns nothing or
stops after one epoch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "finetune.npz"

SEED = 20240611
# The language itself lives with the checks, which draw fresh held-out sentences from it in
# official mode (grader/course/finetune.py); this script only uses it.
sys.path.insert(0, str(ROOT))
from grader.course.finetune import (  # noqa: E402
    CLS,
    FUNCTION_WORDS,
    MASK,
    MAX_LEN,
    N_TOPICS,
    PAD,
    TOPIC_WORDS,
    draw_sentences,
    topic_words,
)

N_FUNCTION = len(FUNCTION_WORDS)
VOCAB = 3 + N_TOPICS * TOPIC_WORDS + N_FUNCTION          # 40
CONFIG = dict(vocab_size=VOCAB, max_len=MAX_LEN, d_model=32, n_heads=2, n_layers=2, d_ff=64)
N_PRETRAIN, N_TRAIN, N_TEST = 8192, 256, 512
PRETRAIN_STEPS, PRETRAIN_BATCH, PRETRAIN_LR = 1000, 128, 3e-3
__all__ = ["draw_sentences", "topic_words", "FUNCTION_WORDS", "N_TOPICS", "build", "load", "measure"]


def pretrain(ids: np.ndarray, mask: np.ndarray, seed: int):
    """Mask-filling pre-training of a MiniBERT with the reference solutions."""
    import torch

    sys.path.insert(0, str(ROOT / "solutions"))
    from models import MiniBERT
    from objectives import mask_tokens, masked_lm_loss

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = MiniBERT(**CONFIG)
    opt = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, PRETRAIN_LR, total_steps=PRETRAIN_STEPS)
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    special = (ids_t == PAD) | (ids_t == CLS)
    for step in range(PRETRAIN_STEPS):
        idx = torch.randint(len(ids_t), (PRETRAIN_BATCH,), generator=gen)
        inputs, labels = mask_tokens(
            ids_t[idx], MASK, VOCAB, 0.15, special_tokens_mask=special[idx], generator=gen
        )
        loss = masked_lm_loss(model(inputs, mask_t[idx]), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == PRETRAIN_STEPS - 1:
            print(f"pretrain step {step:5d}  mlm loss {loss.item():.3f}")
    return model.eval()


def build(path: Path = OUT) -> None:
    rng = np.random.default_rng(SEED)
    pre_ids, pre_mask, _ = draw_sentences(rng, N_PRETRAIN)
    train = draw_sentences(rng, N_TRAIN)
    test = draw_sentences(rng, N_TEST)
    model = pretrain(pre_ids, pre_mask, SEED)
    arrays = {f"model/{k}": v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    config = dict(CONFIG, num_labels=N_TOPICS, pad_id=PAD, cls_id=CLS, mask_id=MASK, seed=SEED)
    arrays.update({f"config/{k}": np.array(v, dtype=np.int64) for k, v in config.items()})
    for name, (ids, mask, labels) in (("train", train), ("test", test)):
        arrays.update({f"{name}_ids": ids, f"{name}_mask": mask, f"{name}_labels": labels})
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")


def load(path: Path = OUT):
    """(config dict of ints, state_dict of float32 tensors, dict of data tensors)."""
    import torch

    with np.load(path, allow_pickle=False) as f:
        config = {k[len("config/"):]: int(f[k]) for k in f.files if k.startswith("config/")}
        state = {k[len("model/"):]: torch.from_numpy(f[k]) for k in f.files if k.startswith("model/")}
        data = {k: torch.from_numpy(f[k]) for k in f.files if "/" not in k}
    return config, state, data


def measure(path: Path = OUT, seeds=(0, 1, 2, 3, 4)) -> None:
    """Print what the reference finetune_classifier reaches, and the baselines it must beat
    (CPU time, one thread; accuracy on the shipped held-out sentences and on 512 drawn
    afresh as official mode does)."""
    import torch

    sys.path.insert(0, str(ROOT / "solutions"))
    import finetune
    from heads import ClassificationHead
    from models import MiniBERT

    from grader.course.finetune import fresh_sentences

    torch.set_num_threads(1)
    config, state, d = load(path)
    keys = ("vocab_size", "max_len", "d_model", "n_heads", "n_layers", "d_ff")
    model = MiniBERT(**{k: config[k] for k in keys})
    model.load_state_dict(state)
    args = (d["train_ids"], d["train_mask"], d["train_labels"], config["num_labels"])
    shipped = np.concatenate([d["train_ids"].numpy(), d["test_ids"].numpy()])
    fresh = tuple(torch.from_numpy(a) for a in fresh_sentences(np.random.default_rng([1, 0xF17E]), 512, shipped))

    def accuracy(clf) -> str:
        with torch.no_grad():
            a = (clf(d["test_ids"], d["test_mask"]).argmax(-1) == d["test_labels"]).double().mean().item()
            b = (clf(fresh[0], fresh[1]).argmax(-1) == fresh[2]).double().mean().item()
        return f"{a:.3f} shipped, {b:.3f} fresh"

    finetune.finetune_classifier(model, *(x[:32] for x in args[:3]), args[3], epochs=1)    # warm-up
    runs = [dict(seed=s) for s in seeds] + [dict(epochs=1), dict(epochs=1, seed=1), dict(epochs=1, seed=2),
                                            dict(epochs=5, lr=5e-3), dict(epochs=10, lr=5e-3), dict(epochs=8)]
    for kwargs in runs:
        t0 = time.process_time()
        clf = finetune.finetune_classifier(model, *args, **kwargs)
        print(f"finetune_classifier({kwargs}): test acc {accuracy(clf)} in {time.process_time() - t0:.2f} s CPU")
    t0 = time.process_time()
    for s in (1, 1, 2):
        finetune.finetune_classifier(model, *(x[:64] for x in args[:3]), args[3], epochs=1, seed=s)
    print(f"finetune_seed's three runs (64 sentences, 1 epoch): {time.process_time() - t0:.3f} s CPU")
    untrained = []
    for seed in range(10):
        torch.manual_seed(seed)
        head = ClassificationHead(config["d_model"], config["num_labels"], "mean")
        untrained.append(accuracy(finetune.SequenceClassifier(model, head)))
    print(f"untrained head, seeds 0-9: test acc {'; '.join(untrained)}")
    apply_lora = finetune.apply_lora
    finetune.apply_lora = lambda m, names, r, alpha: m.requires_grad_(False)   # head only
    print(f"head only (no LoRA), seed 0: test acc {accuracy(finetune.finetune_classifier(model, *args))}")
    finetune.apply_lora = apply_lora
    torch.manual_seed(0)
    scratch = MiniBERT(**{k: config[k] for k in keys})
    print(f"LoRA + head on an untrained MiniBERT, seed 0: test acc "
          f"{accuracy(finetune.finetune_classifier(scratch, *args))}")


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
