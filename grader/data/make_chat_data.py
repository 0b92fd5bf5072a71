"""Build ``grader/data/chat.npz``: the instruction set ``grade chat`` fine-tunes on.

Run from the repository root:

    python grader/data/make_chat_data.py            # writes grader/data/chat.npz
    python grader/data/make_chat_data.py --measure  # also: conversation lengths under the
                                                    # reference BPE (needs the solutions)

The capstone (``grade chat``, not graded) trains a tiny MiniGPT in a minute or two of CPU,
so the instructions are templated and few, simple enough that such a model learns the
conversation format and most of the answers. Half English, half Chinese; seeded, and only
``random.Random.random()`` is used (its sequence is stable across Python versions), so the
file is reproducible byte for byte. The kinds of pair:

- greetings and small talk: "Hello!" -> "Hello! How can I help you?", "你好" -> "你好！有什么可以帮你的吗？",
  "Who are you?", "谢谢", "Goodbye" ...;
- addition of two numbers from 0 to 9: "What is 3 + 4?" -> "3 + 4 = 7.", "3 加 4 等于几？" ->
  "3 加 4 等于 7。";
- colour words, both ways: "How do you say 红色 in English?" -> "红色 is red in English.",
  "red 的中文是什么？" -> "red 的中文是红色。";
- counting on: "What comes after 6?" -> "7 comes after 6.", "6 后面是几？" -> "6 后面是 7。".

Each prompt of a kind appears once (no duplicate prompt in the file); small talk is written
in a few wordings. File contents (np.savez_compressed, plain arrays, load with
np.load(allow_pickle=False)):

    prompts, responses   <U str [N], pair i is (prompts[i], responses[i]) (N = 315)
    description          0-d <U str
    seed                 0-d int64

Measured with ``--measure`` (the reference train_bpe with grade chat's 200 merges and
special tokens): every conversation fits grade chat's max_len of 64 tokens (18 to 58
tokens, 25 on average).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "chat.npz"
SEED = 20240701

SMALL_TALK = [
    (["Hello!", "Hello", "Hi!", "Hi there", "Hey"], "Hello! How can I help you?"),
    (["你好", "你好！", "您好", "嗨"], "你好！有什么可以帮你的吗？"),
    (["Who are you?", "What are you?", "Tell me about yourself."],
     "I am a tiny language model that you trained yourself."),
    (["你是谁？", "你是什么？", "介绍一下你自己。"], "我是你自己训练出来的小语言模型。"),
    (["Thank you!", "Thanks", "Thanks a lot!"], "You are welcome!"),
    (["谢谢", "谢谢你！", "多谢"], "不客气！"),
    (["Goodbye", "Bye!", "See you later."], "Goodbye! Have a nice day."),
    (["再见", "拜拜", "明天见"], "再见！祝你今天愉快。"),
    (["How are you?", "How are you today?"], "I am fine, thank you. And you?"),
    (["你好吗？", "你今天好吗？"], "我很好，谢谢。你呢？"),
    (["What can you do?", "Help"], "I can add small numbers, count and translate colour words."),
    (["你会做什么？", "帮助"], "我会算小数字的加法、数数，还会翻译颜色词。"),
]

COLOURS = [("红色", "red"), ("蓝色", "blue"), ("绿色", "green"), ("黄色", "yellow"), ("黑色", "black"),
           ("白色", "white"), ("紫色", "purple"), ("橙色", "orange"), ("灰色", "grey"), ("粉色", "pink")]


def pairs() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for prompts, answer in SMALL_TALK:
        out += [(p, answer) for p in prompts]
    for a in range(10):
        for b in range(10):
            out.append((f"What is {a} + {b}?", f"{a} + {b} = {a + b}."))
            out.append((f"{a} 加 {b} 等于几？", f"{a} 加 {b} 等于 {a + b}。"))
    for zh, en in COLOURS:
        out.append((f"How do you say {zh} in English?", f"{zh} is {en} in English."))
        out.append((f"{en} 的中文是什么？", f"{en} 的中文是{zh}。"))
        out.append((f"What is {en} in Chinese?", f"{en} is {zh} in Chinese."))
        out.append((f"{zh}用英文怎么说？", f"{zh}的英文是 {en}。"))
    for n in range(20):
        out.append((f"What comes after {n}?", f"{n + 1} comes after {n}."))
        out.append((f"{n} 后面是几？", f"{n} 后面是 {n + 1}。"))
    return out


def shuffled(items: list, rng: random.Random) -> list:
    """Fisher-Yates with ``rng.random()`` only (``shuffle``'s draws are not version-stable)."""
    items = list(items)
    for i in range(len(items) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        items[i], items[j] = items[j], items[i]
    return items


def build() -> dict:
    rng = random.Random(SEED)
    data = shuffled(pairs(), rng)
    prompts = [p for p, _ in data]
    assert len(set(prompts)) == len(prompts), "duplicate prompt"
    return {
        "description": "grade chat's instruction set: templated English and Chinese small talk, "
                       "one-digit addition, colour words and counting (grader/data/make_chat_data.py)",
        "seed": SEED,
        "pairs": [list(p) for p in data],
    }


def write(path: Path = OUT) -> dict:
    data = build()
    np.savez_compressed(path, prompts=np.array([p for p, _ in data["pairs"]]),
                        responses=np.array([r for _, r in data["pairs"]]),
                        description=np.array(data["description"]), seed=np.array(data["seed"], dtype=np.int64))
    return data


def load(path: Path = OUT) -> dict:
    """The file as ``build()`` returns it."""
    with np.load(path, allow_pickle=False) as f:
        return {"description": str(f["description"]), "seed": int(f["seed"]),
                "pairs": [[str(p), str(r)] for p, r in zip(f["prompts"], f["responses"])]}


def measure(data: dict) -> None:
    """Conversation lengths in tokens under the reference BPE, trained as grade chat does."""
    sys.path.insert(0, str(ROOT / "solutions"))
    import tokenizer
    from alignment import build_sft_example

    specials = ["<|endoftext|>", "<|sep|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    with np.load(ROOT / "grader" / "data" / "tokenizer.npz", allow_pickle=False) as f:
        corpus = f["corpus"].tobytes().decode("utf-8")
    chats = [f"<|user|>\n{p}<|end|>\n<|assistant|>\n{r}<|end|>\n" for p, r in data["pairs"]]
    vocab, merges = tokenizer.train_bpe(corpus + "<|endoftext|>" + "<|endoftext|>".join(chats),
                                        256 + len(specials) + 200, specials)
    lengths = []
    for p, r in data["pairs"]:
        ids, _ = build_sft_example([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                   lambda s: tokenizer.bpe_encode(s, vocab, merges, specials))
        lengths.append(len(ids))
    print(f"conversation tokens: min {min(lengths)}, mean {sum(lengths) / len(lengths):.1f}, max {max(lengths)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true")
    args = parser.parse_args()
    data = write()
    assert load() == data
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(data['pairs'])} pairs)")
    if args.measure:
        measure(data)


if __name__ == "__main__":
    main()
