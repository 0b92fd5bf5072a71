"""Build ``grader/data/pretrain.npz``: the token corpus the ``pretrain`` exercise is judged on.

Run from the repository root:

    python grader/data/make_pretrain_data.py             # writes grader/data/pretrain.npz
    python grader/data/make_pretrain_data.py --measure   # baselines and the reference's run
    python grader/data/make_pretrain_data.py --measure --variants   # also other (and broken) loops

The corpus is a seeded synthetic language with structure at three distances (so that a
small Transformer beats any n-gram model only if its attention learns something). The
language (``draw_stream``) lives in grader/course/pretrain.py, whose quality check draws
fresh held-out text from it in official mode; this script imports it:

- 48 ids: 0 = "." (end of sentence), 1 = "the", 2 = "a" (singular only), 3 = "some"
  (plural only), 4-7 four adjectives, 8-39 nouns (4 topics x 4 nouns x singular/plural:
  id 8 + 8*topic + 2*noun + plural), 40-47 verbs (4 verbs x singular/plural: id 40 +
  2*verb + plural).
- a sentence is ``DET ADJ* NOUN VERB DET ADJ* NOUN .`` with 0, 1 or 2 adjectives
  (probabilities 0.5, 0.3, 0.2) before each noun. Each noun phrase first draws its number;
  "a" goes only with a singular noun and "some" only with a plural one ("the" with
  either, half the time), so the determiner predicts the noun's number across the
  adjectives; the verb agrees in number with the subject.
- the text is one stream of sentences with a hidden topic: both nouns of a sentence come
  from the current topic, and the topic also picks the verb (topic t uses verbs t and
  t+1 mod 4). After each sentence the topic stays with probability 0.8, otherwise it
  becomes one of the other three. The topic is never written down: it must be inferred
  from the nouns and verbs seen earlier in the context.

Because the only hidden state is the topic (the grammar position follows from the tokens),
the best possible next-token distribution given the whole past is computable exactly with
a forward filter over the topic; ``--measure`` prints that floor next to the baselines.

File contents (np.savez_compressed, plain arrays, load with np.load(allow_pickle=False)):
    train      uint8 [120000]   token ids of the training stream
    valid      uint8 [4097]     held-out stream (drawn after train, same process): 256
                                windows of 16 (+1) at the check's context_length 16
    vocab_size 0-d int64, 48
    seed       0-d int64

Measured with ``--measure`` (2-core CPU shared with other jobs, torch 2.13,
torch.set_num_threads(1), CPU seconds from time.process_time()), held-out perplexity at
context_length 16 (windows as in ``perplexity``): see the numbers recorded in
grader/course/pretrain.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "pretrain.npz"

SEED = 20240715
N_TRAIN = 120_000
# The language itself lives with the checks, which draw fresh held-out text from it in
# official mode (grader/course/pretrain.py); this script only uses it.
sys.path.insert(0, str(ROOT))
from grader.course.pretrain import (  # noqa: E402
    ADJ0,
    DOT,
    EVAL_CONTEXT,
    N_ADJ,
    N_NOUNS,
    N_TOPICS,
    N_VERBS,
    NOUN0,
    P_ADJ,
    P_STAY,
    SOME,
    THE,
    VERB0,
    VOCAB,
    A,
    draw_stream,
    noun_id,
    topic_verbs,
    verb_id,
)

N_VALID = 256 * EVAL_CONTEXT + 1               # 256 windows of 16 (+1) at context 16
__all__ = ["A", "ADJ0", "DOT", "N_ADJ", "N_NOUNS", "N_TOPICS", "N_VERBS", "NOUN0", "P_ADJ", "P_STAY", "SOME",
           "THE", "VERB0", "VOCAB", "draw_stream", "noun_id", "topic_verbs", "verb_id", "build", "load",
           "measure"]


def build(path: Path = OUT) -> None:
    rng = np.random.default_rng(SEED)
    train = draw_stream(rng, N_TRAIN)
    valid = draw_stream(rng, N_VALID)
    np.savez_compressed(path, train=train, valid=valid, vocab_size=np.array(VOCAB, dtype=np.int64),
                        seed=np.array(SEED, dtype=np.int64))
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB)")


def load(path: Path = OUT) -> tuple[np.ndarray, np.ndarray, int]:
    """(train int64 [N], valid int64 [M], vocab_size)."""
    with np.load(path, allow_pickle=False) as f:
        return f["train"].astype(np.int64), f["valid"].astype(np.int64), int(f["vocab_size"])


# --- what is achievable: the exact predictive distribution, and n-gram baselines -----------------


def _noun_phrase_state(sentence: list[int]) -> tuple[int, int]:
    """(determiner, adjectives so far) of the noun phrase the sentence is in the middle of."""
    i, n_adj = len(sentence) - 1, 0
    while ADJ0 <= sentence[i] < NOUN0:
        n_adj += 1
        i -= 1
    return sentence[i], n_adj


def next_probs(belief: np.ndarray, sentence: list[int]) -> np.ndarray:
    """P(next id | the past) under the true process: ``belief`` is P(topic | the past),
    ``sentence`` the ids of the current sentence so far (the grammar position follows from it)."""
    p = np.zeros(VOCAB)
    last = sentence[-1] if sentence else DOT
    if last == DOT or last >= VERB0:                    # a noun phrase starts: its determiner
        p[THE], p[A], p[SOME] = 0.5, 0.25, 0.25
    elif last in (THE, A, SOME) or ADJ0 <= last < NOUN0:
        det, n_adj = _noun_phrase_state(sentence)
        more = sum(P_ADJ[n_adj + 1:]) / sum(P_ADJ[n_adj:])   # another adjective, given n so far
        p[ADJ0:NOUN0] = more / N_ADJ
        p_plural = 0.5 if det == THE else float(det == SOME)
        for topic in range(N_TOPICS):
            for noun in range(N_NOUNS):
                p[noun_id(topic, noun, 0)] = (1 - more) * belief[topic] * (1 - p_plural) / N_NOUNS
                p[noun_id(topic, noun, 1)] = (1 - more) * belief[topic] * p_plural / N_NOUNS
    elif not any(t >= VERB0 for t in sentence):         # after the subject: an agreeing verb
        plural = (last - NOUN0) % 2
        for topic in range(N_TOPICS):
            for verb in topic_verbs(topic):
                p[verb_id(verb, plural)] += 0.5 * belief[topic]
    else:                                               # after the object: the end of the sentence
        p[DOT] = 1.0
    return p


def update_belief(belief: np.ndarray, sentence: list[int], x: int) -> np.ndarray:
    """P(topic | the past and x): a noun names its topic, a verb narrows it to two, "." lets
    it move."""
    if NOUN0 <= x < VERB0:
        belief = np.zeros(N_TOPICS)
        belief[(x - NOUN0) // (2 * N_NOUNS)] = 1.0
    elif x >= VERB0:
        like = np.array([float((x - VERB0) // 2 in topic_verbs(t)) for t in range(N_TOPICS)])
        belief = belief * like / (belief @ like)
    elif x == DOT:
        belief = belief * P_STAY + (1 - belief) * (1 - P_STAY) / (N_TOPICS - 1)
    return belief


def optimal_nll(stream: np.ndarray) -> np.ndarray:
    """-log P(x_t | x_<t) under the true process for t >= 1 (the stream starts a sentence;
    the topic is uniform at first): a forward filter over the hidden topic."""
    belief = np.full(N_TOPICS, 1.0 / N_TOPICS)
    sentence: list[int] = []
    nll = []
    for t in range(len(stream)):
        x = int(stream[t])
        if t:
            nll.append(-np.log(next_probs(belief, sentence)[x]))
        belief = update_belief(belief, sentence, x)
        sentence = [] if x == DOT else sentence + [x]
    return np.asarray(nll)


def ngram_perplexity(train: np.ndarray, valid: np.ndarray, n: int, alpha: float = 0.1) -> float:
    """Held-out perplexity of an add-alpha n-gram model counted on train."""
    from collections import Counter

    ctx_counts: Counter = Counter()
    counts: Counter = Counter()
    for i in range(n - 1, len(train)):
        ctx = tuple(train[i - n + 1:i])
        ctx_counts[ctx] += 1
        counts[ctx + (train[i],)] += 1
    nll = 0.0
    for i in range(n - 1, len(valid)):
        ctx = tuple(valid[i - n + 1:i])
        p = (counts[ctx + (valid[i],)] + alpha) / (ctx_counts[ctx] + alpha * VOCAB)
        nll -= np.log(p)
    return float(np.exp(nll / (len(valid) - n + 1)))


def train_variant(pretrain, train, vocab: int, seed: int = 0, *, steps: int = 100, lr: float = 1e-2,
                  batch: int = 16, T: int = EVAL_CONTEXT, warmup: int = 30, betas=(0.8, 0.99), wd: float = 0.1,
                  clip: float | None = 1.0, embed_std: float | None = 64 ** -0.5, zero_grad: bool = True,
                  shift: bool = True):
    """The reference's loop with every choice a parameter (the defaults are the reference's
    own, at max_len = T): what other choices, and some broken ones, reach."""
    import torch
    from models import MiniGPT

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = MiniGPT(vocab, T, 64, 4, 2)
        if embed_std is not None:
            with torch.no_grad():
                model.tok_emb.weight.normal_(0.0, embed_std)
                model.pos_emb.weight.normal_(0.0, embed_std)
        opt = pretrain.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=wd)
        model.train()
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = pretrain.cosine_lr(step, lr, lr / 10, min(warmup, steps), steps)
            x, y = pretrain.get_batch(train, batch, T, generator=gen)
            loss = pretrain.cross_entropy(model(x), y if shift else x)
            if zero_grad:
                opt.zero_grad()
            loss.backward()
            if clip is not None:
                pretrain.clip_grad_norm(model.parameters(), clip)
            opt.step()
    return model.eval()


VARIANTS = {                                   # name: train_variant's keyword arguments
    "10 steps": {"steps": 10},
    "20 steps": {"steps": 20},
    "40 steps": {"steps": 40},
    "200 steps": {"steps": 200},
    "batch 32": {"batch": 32},
    "context 32 (a model of max_len >= 32)": {"T": 32},
    "torch's AdamW betas (0.9, 0.999)": {"betas": (0.9, 0.999), "steps": 150},
    "no weight decay": {"wd": 0.0},
    "no warmup": {"warmup": 0},
    "no clipping": {"clip": None},
    "lr 3e-3, 300 steps": {"lr": 3e-3, "steps": 300},
    "N(0, 1) embeddings, 100 steps": {"embed_std": None},
    "N(0, 1) embeddings, 300 steps, torch's betas (the earlier reference)": {"embed_std": None, "steps": 300,
                                                                             "betas": (0.9, 0.999)},
    "broken: no zero_grad": {"zero_grad": False},
    "broken: y = x (no shift)": {"shift": False},
}


def measure(path: Path = OUT, seeds=range(5), variants: bool = False) -> None:
    import torch

    sys.path.insert(0, str(ROOT / "solutions"))
    import pretrain
    from models import MiniGPT

    torch.set_num_threads(1)
    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])     # imports torch._dynamo: not timed
    train, valid, vocab = load(path)
    T = EVAL_CONTEXT
    print(f"train {len(train)} tokens, valid {len(valid)} ({(len(valid) - 1) // T} windows of {T}), vocab {vocab}")
    fresh = draw_stream(np.random.default_rng(1), 200_000)
    print(f"optimal (exact filter, whole past): perplexity {np.exp(optimal_nll(fresh).mean()):.3f}")
    for n in (1, 2, 3, 4):
        print(f"{n}-gram (add-0.1): held-out perplexity {ngram_perplexity(train, valid, n):.3f}")
    tr, v = torch.from_numpy(train), torch.from_numpy(valid)
    others = [torch.from_numpy(draw_stream(np.random.default_rng([s, 0x9E7A]), len(valid)).astype(np.int64))
              for s in range(5)]                # as official mode draws held-out text, 5 run seeds
    for seed in seeds:
        t0 = time.process_time()
        model = pretrain.pretrain_minigpt(tr, vocab, max_len=T, seed=seed)
        t1 = time.process_time()
        ppl = pretrain.perplexity(model, v, T)
        t2 = time.process_time()
        fresh_ppl = [pretrain.perplexity(model, o, T) for o in others]
        print(f"seed {seed}: reference pretrain_minigpt(max_len={T}): held-out perplexity {ppl:.3f} "
              f"(fresh held-out text: {min(fresh_ppl):.3f}-{max(fresh_ppl):.3f}); "
              f"{t1 - t0:.2f} s of CPU to train, {t2 - t1:.3f} s to evaluate")
    same = train_variant(pretrain, tr, vocab, 0)
    ref = pretrain.pretrain_minigpt(tr, vocab, max_len=T, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(), ref.state_dict().values()))
    for seed in range(3):
        torch.manual_seed(seed)
        print(f"untrained MiniGPT (seed {seed}): {pretrain.perplexity(MiniGPT(vocab, T, 64, 4, 2), v, T):.3g}; "
              f"with N(0, 1/64) embeddings: "
              f"{pretrain.perplexity(train_variant(pretrain, tr, vocab, seed, steps=1), v, T):.1f}")
    if not variants:
        return
    for name, kwargs in VARIANTS.items():
        t0 = time.process_time()
        ppl = [pretrain.perplexity(train_variant(pretrain, tr, vocab, seed, **kwargs), v, T) for seed in range(3)]
        dt = (time.process_time() - t0) / 3
        print(f"{name}: {min(ppl):.2f}-{max(ppl):.2f} (seeds 0-2), {dt:.2f} s of CPU each")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="only measure the existing file")
    parser.add_argument("--variants", action="store_true", help="also train other (and broken) loops")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.measure:
        build(args.out)
    measure(args.out, variants=args.variants)
