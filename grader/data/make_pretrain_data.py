"""Build ``grader/data/pretrain.npz``: the token corpus the ``pretrain`` exercise is judged on.

Run from the repository root:

    python grader/data/make_pretrain_data.py             # writes grader/data/pretrain.npz
    python grader/data/make_pretrain_data.py --measure   # baselines and the reference's run

The corpus is a seeded synthetic language with structure at three distances (so that a
small Transformer beats any n-gram model only if its attention learns something):

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
    valid      uint8 [16385]    held-out stream (drawn after train, same process)
    vocab_size 0-d int64, 48
    seed       0-d int64

Measured with ``--measure`` (2-core CPU shared with other jobs, torch 2.13,
torch.set_num_threads(1)), held-out perplexity at context_length 32 (windows as in
``perplexity``): see the numbers recorded in grader/course/pretrain.py.
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
N_TRAIN, N_VALID = 120_000, 16_385           # valid: 512 windows of 32 (+1) at context 32
N_TOPICS, N_NOUNS, N_VERBS, N_ADJ = 4, 4, 4, 4
DOT, THE, A, SOME = 0, 1, 2, 3
ADJ0, NOUN0, VERB0 = 4, 8, 40
VOCAB = VERB0 + 2 * N_VERBS                    # 48
P_ADJ = (0.5, 0.3, 0.2)                        # 0, 1, 2 adjectives before a noun
P_STAY = 0.8                                   # the topic survives a sentence boundary


def noun_id(topic: int, noun: int, plural: int) -> int:
    return NOUN0 + 2 * (N_NOUNS * topic + noun) + plural


def verb_id(verb: int, plural: int) -> int:
    return VERB0 + 2 * verb + plural


def topic_verbs(topic: int) -> tuple[int, int]:
    return topic, (topic + 1) % N_VERBS


def _noun_phrase(rng: np.random.Generator, topic: int, out: list[int]) -> int:
    plural = int(rng.integers(2))
    det = THE if rng.random() < 0.5 else (SOME if plural else A)
    out.append(det)
    out.extend(ADJ0 + rng.integers(N_ADJ, size=rng.choice(3, p=P_ADJ)))
    out.append(noun_id(topic, int(rng.integers(N_NOUNS)), plural))
    return plural


def draw_stream(rng: np.random.Generator, n: int, topic: int | None = None) -> np.ndarray:
    """At least n tokens of the language (cut to exactly n), as uint8."""
    topic = int(rng.integers(N_TOPICS)) if topic is None else topic
    out: list[int] = []
    while len(out) < n:
        plural = _noun_phrase(rng, topic, out)
        out.append(verb_id(topic_verbs(topic)[int(rng.integers(2))], plural))
        _noun_phrase(rng, topic, out)
        out.append(DOT)
        if rng.random() >= P_STAY:
            topic = int(rng.choice([t for t in range(N_TOPICS) if t != topic]))
    return np.asarray(out[:n], dtype=np.uint8)


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


def measure(path: Path = OUT, seeds=(0, 1, 2)) -> None:
    import torch

    sys.path.insert(0, str(ROOT / "solutions"))
    import pretrain
    from models import MiniGPT

    torch.set_num_threads(1)
    train, valid, vocab = load(path)
    print(f"train {len(train)} tokens, valid {len(valid)}, vocab {vocab}")
    fresh = draw_stream(np.random.default_rng(1), 200_000)
    print(f"optimal (exact filter, whole past): perplexity {np.exp(optimal_nll(fresh).mean()):.3f}")
    for n in (1, 2, 3, 4):
        print(f"{n}-gram (add-0.1): held-out perplexity {ngram_perplexity(train, valid, n):.3f}")
    T = 32
    v = torch.from_numpy(valid)
    for seed in seeds:
        t0 = time.perf_counter()
        model = pretrain.pretrain_minigpt(torch.from_numpy(train), vocab, seed=seed)
        dt = time.perf_counter() - t0
        print(f"seed {seed}: reference pretrain_minigpt: held-out perplexity "
              f"{pretrain.perplexity(model, v, T):.3f} in {dt:.1f} s")
    torch.manual_seed(0)
    print(f"untrained MiniGPT: {pretrain.perplexity(MiniGPT(vocab, 64, 64, 4, 2), v, T):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="only measure the existing file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.measure:
        build(args.out)
    measure(args.out)
