"""Build ``grader/data/tokenizer.npz``: the corpus the ``tokenizer`` exercise trains BPE on.

Run from the repository root (needs the reference solutions, which are not shipped):

    python grader/data/make_tokenizer_data.py            # writes grader/data/tokenizer.npz
    python grader/data/make_tokenizer_data.py --measure  # also times the reference

The text is synthetic (nothing is downloaded) and seeded: only ``random.Random.random()`` is
used, whose sequence Python keeps stable across versions, so the corpus is reproducible
byte for byte. Documents alternate between Chinese and English:
- Chinese: sentences of 4-13 words drawn from a list of about 120 words (Zipf weights:
  the k-th word has weight 1/(k+2)), with "，" inside and "。", "？" or "！" at the end; one
  sentence in five carries an English term ("Transformer", "GPT", ...) with spaces around it;
- English: sentences of 5-14 words from a list of about 150 words (Zipf weights), a capital
  first letter, commas, ". ", "? " or "! " at the end; now and then a number, "🤗" or "🍎";
- sentences are separated by a newline or a space, paragraphs by a blank line, and
  documents by "<|endoftext|>"; a question and its answer by "<|sep|>" (the two special
  tokens).
A held-out text is drawn the same way from another seed.

File contents (np.savez_compressed, plain arrays, load with np.load(allow_pickle=False)):
    corpus, heldout   uint8, UTF-8 bytes of the training and held-out texts
    special_tokens    <U str array, in id order (ids 256, 257)
    vocab_size        0-d int64
    merge_bytes       uint8, every merge's left then right bytes, concatenated
    merge_lengths     int64 [M, 2], the length of each merge's left and right part
                      (the reference train_bpe(corpus, vocab_size, special_tokens))

Measured with ``--measure`` (CPU time, ``time.process_time()``, one process, 2-core machine
shared with other jobs, Python 3.11): the corpus is 19.7 KB (2858 Chinese characters, 40
documents), the held-out text 4.1 KB. train_bpe to 300 merges: the reference 0.21-0.29 s (it keeps
the pair counts up to date; 0.69 s on the former 100-document, 51 KB corpus); the simplest
correct trainer (recount the pairs of every distinct chunk after each merge) 0.71 s; the same
over every chunk occurrence 1.3 s. The corpus still tells the rules apart: counting each
distinct chunk once differs from the reference at merge 0, pairs across chunks at merge 2,
ties by token ids at merge 30, ties by first occurrence (``max(counts, key=counts.get)``) at
merge 10.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "tokenizer.npz"

SEED, HELDOUT_SEED = 20240614, 20240615
CORPUS_DOCS, HELDOUT_DOCS = 40, 12
SPECIAL_TOKENS = ["<|endoftext|>", "<|sep|>"]
VOCAB_SIZE = 256 + len(SPECIAL_TOKENS) + 300

ZH_WORDS = (
    "的 我 是 模型 在 了 一个 词 向量 我们 注意力 可以 训练 语言 这个 数据 就 和 他 没有 "
    "学习 使用 不 都 位置 预测 下一个 句子 上 时候 今天 需要 很 大 知道 参数 自己 问题 计算 "
    "因为 所以 如果 矩阵 你 她 小明 老师 学生 大学生 考试 一次 参加 幼儿园 北京 北纬 度 苹果 "
    "医生 博士学位 手机 每天 时间 朋友 喜欢 中文 英文 文本 分词 词表 编码 解码 字节 合并 频率 "
    "输出 输入 概率 损失 梯度 反向传播 微调 预训练 推理 生成 回答 指令 人类 意图 理解 表示 "
    "含义 特征 维度 权重 层 头 查询 键 值 名字 找到 相似 余弦 缩放 点积 掩码 填充 因果 编码器 "
    "解码器 分类 任务 准确率 下游 硬件 资源 低秩 适配 高效 简单 复杂 重要 开始 结束 看见"
).split()
ZH_TERMS = ("Transformer", "GPT", "BERT", "LoRA", "Hugging Face", "token", "BPE", "embedding")
EN_WORDS = (
    "the of a to and in is that it for on with as was this model we be by are word you at "
    "from token an or can each have one not vector which attention all their but what so "
    "will there more when text they training if about our its how next data would has "
    "out them learn only into some time two than first new like other then these layer "
    "sentence may could also over after where language most head query key value mask "
    "position embedding weight every loss gradient apple day keeps doctor away phone "
    "degree student teacher exam name find similar small large simple fast slow byte "
    "merge pair count frequent rare split chunk space unknown character decode encode "
    "vocabulary size budget machine core memory second minute answer question human "
    "intent understand meaning feature hardware resource low rank adapter fine tune "
    "pretrain predict generate output input probability"
).split()


class Draw:
    """Seeded choices built on ``random.Random.random()`` only (stable across Pythons)."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def uniform(self) -> float:
        return self.r.random()

    def integer(self, lo: int, hi: int) -> int:          # lo..hi inclusive
        return lo + min(int(self.r.random() * (hi - lo + 1)), hi - lo)

    def zipf(self, words: tuple[str, ...] | list[str]) -> str:
        weights = [1.0 / (k + 2) for k in range(len(words))]
        u, acc = self.r.random() * sum(weights), 0.0
        for w, p in zip(words, weights):
            acc += p
            if u < acc:
                return w
        return words[-1]


def zh_sentence(d: Draw) -> str:
    n = d.integer(4, 13)
    words = [d.zipf(ZH_WORDS) for _ in range(n)]
    if d.uniform() < 0.2:
        words.insert(d.integer(0, n), " " + ZH_TERMS[d.integer(0, len(ZH_TERMS) - 1)] + " ")
    if n > 6 and d.uniform() < 0.6:
        words.insert(d.integer(2, n - 2), "，")
    end = "。" if d.uniform() < 0.7 else ("？" if d.uniform() < 0.6 else "！")
    return "".join(words).strip() + end


def en_sentence(d: Draw) -> str:
    n = d.integer(5, 14)
    words = [d.zipf(EN_WORDS) for _ in range(n)]
    if d.uniform() < 0.15:
        words.insert(d.integer(1, n), str(d.integer(0, 2050)))
    if d.uniform() < 0.08:
        words.insert(d.integer(1, n), "🤗" if d.uniform() < 0.5 else "🍎")
    if n > 7 and d.uniform() < 0.5:
        k = d.integer(2, n - 2)
        words[k] = words[k] + ","
    words[0] = words[0].capitalize()
    end = "." if d.uniform() < 0.7 else ("?" if d.uniform() < 0.6 else "!")
    return " ".join(words) + end


def paragraph(d: Draw, chinese: bool) -> str:
    sentence = zh_sentence if chinese else en_sentence
    parts = []
    for i in range(d.integer(2, 6)):
        if i:
            parts.append("\n" if d.uniform() < 0.3 else ("" if chinese else " "))
        parts.append(sentence(d))
    text = "".join(parts)
    if d.uniform() < 0.15:                                  # a question and its answer
        text = sentence(d) + SPECIAL_TOKENS[1] + text
    return text


def document(d: Draw, chinese: bool) -> str:
    return "\n\n".join(paragraph(d, chinese) for _ in range(d.integer(1, 4)))


def make_text(seed: int, docs: int) -> str:
    d = Draw(seed)
    return SPECIAL_TOKENS[0].join(document(d, chinese=i % 2 == 0) for i in range(docs)) + "\n"


def pack_merges(merges: list[tuple[bytes, bytes]]) -> tuple[np.ndarray, np.ndarray]:
    raw = b"".join(left + right for left, right in merges)
    lengths = np.array([[len(left), len(right)] for left, right in merges], dtype=np.int64).reshape(-1, 2)
    return np.frombuffer(raw, dtype=np.uint8).copy(), lengths


def unpack_merges(raw: np.ndarray, lengths: np.ndarray) -> list[tuple[bytes, bytes]]:
    data, pos, out = raw.tobytes(), 0, []
    for a, b in lengths.tolist():
        out.append((data[pos:pos + a], data[pos + a:pos + a + b]))
        pos += a + b
    return out


def simple_train(tokenizer, text: str, vocab_size: int, specials: list[str], first_seen: bool = False,
                 weighted: bool = True, every: bool = False) -> tuple[list[tuple[bytes, bytes]], float]:
    """A plain trainer that recounts every pair after each merge (and its CPU seconds)."""
    from collections import Counter

    t0 = time.process_time()
    chunks = [p for p in tokenizer.pretokenize(text, specials) if p not in set(specials)]
    if every:
        words = [(tuple(bytes([b]) for b in c.encode()), 1) for c in chunks]
    else:
        words = [(tuple(bytes([b]) for b in c.encode()), n if weighted else 1) for c, n in Counter(chunks).items()]
    merges = []
    for _ in range(vocab_size - 256 - len(specials)):
        counts = Counter()
        for w, n in words:
            for pair in zip(w, w[1:]):
                counts[pair] += n
        pair = max(counts, key=counts.get) if first_seen else max(counts, key=lambda p: (counts[p], p))
        words = [(tokenizer.merge_pair(w, pair), n) for w, n in words]
        merges.append(pair)
    return merges, time.process_time() - t0


def build(measure: bool = False) -> dict[str, np.ndarray]:
    sys.path.insert(0, str(ROOT / "solutions"))
    import tokenizer

    corpus, heldout = make_text(SEED, CORPUS_DOCS), make_text(HELDOUT_SEED, HELDOUT_DOCS)
    t0 = time.process_time()
    vocab, merges = tokenizer.train_bpe(corpus, VOCAB_SIZE, SPECIAL_TOKENS)
    seconds = time.process_time() - t0
    assert len(vocab) == VOCAB_SIZE and len(merges) == VOCAB_SIZE - 256 - len(SPECIAL_TOKENS)
    raw, lengths = pack_merges(merges)
    if measure:
        ids = tokenizer.bpe_encode(heldout, vocab, merges, SPECIAL_TOKENS)
        n = len(heldout.encode())
        zh = sum(1 for ch in corpus if "\u4e00" <= ch <= "\u9fff")
        print(f"corpus {len(corpus.encode())} bytes ({zh} Chinese characters), held-out {n} bytes; "
              f"train_bpe {seconds:.2f} s CPU; held-out {n / len(ids):.2f} bytes per token")
        for label, kw in (("tie by first occurrence", {"first_seen": True}),
                          ("each distinct chunk once", {"weighted": False})):
            other = simple_train(tokenizer, corpus, VOCAB_SIZE, SPECIAL_TOKENS, **kw)[0]
            k = next((i for i, (a, b) in enumerate(zip(other, merges)) if a != b), None)
            print(f"{label}: first differs at merge {k}")
        for label, kw in (("recount the distinct chunks", {}), ("recount every chunk occurrence", {"every": True})):
            seconds = simple_train(tokenizer, corpus, VOCAB_SIZE, SPECIAL_TOKENS, **kw)[1]
            print(f"simplest correct trainer, {label}: {seconds:.2f} s CPU")
    return {
        "corpus": np.frombuffer(corpus.encode(), dtype=np.uint8).copy(),
        "heldout": np.frombuffer(heldout.encode(), dtype=np.uint8).copy(),
        "special_tokens": np.array(SPECIAL_TOKENS),
        "vocab_size": np.array(VOCAB_SIZE, dtype=np.int64),
        "merge_bytes": raw,
        "merge_lengths": lengths,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="print sizes and timings")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    arrays = build(args.measure)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
