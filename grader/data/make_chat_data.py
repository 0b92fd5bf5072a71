"""Build ``grader/data/chat.json``: the instruction set ``grade chat`` fine-tunes on.

Run from the repository root (needs nothing but Python):

    python grader/data/make_chat_data.py          # writes grader/data/chat.json

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
in a few wordings. File contents (JSON, UTF-8):

    {"description": str, "seed": int, "pairs": [[prompt, response], ...]}
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "chat.json"
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


def main() -> None:
    data = build()
    rows = ",\n".join(json.dumps(p, ensure_ascii=False) for p in data["pairs"])
    head = json.dumps({k: v for k, v in data.items() if k != "pairs"}, ensure_ascii=False)
    text = head[:-1] + ', "pairs": [\n' + rows + "\n]}\n"  # one pair a line
    assert json.loads(text) == data
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.encode())} bytes, {len(data['pairs'])} pairs)")


if __name__ == "__main__":
    main()
