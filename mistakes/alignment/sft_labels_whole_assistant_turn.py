r"""Your labels cover the whole assistant turn, header "<|assistant|>\n" and the final "\n" included: only the content and <|end|> are learned, the format's markers come from the prompt.

zh: 你的 labels 覆盖了助手的整轮，包括标题 "<|assistant|>\n" 和最后的 "\n"：只应学习内容与 <|end|>，格式标记来自提示。
catches: build_sft_example_reference, build_sft_example_labels
"""

import torch


def build_sft_example(messages, encode):
    ids, labels = [], []
    for m in messages:
        if m["role"] not in ROLES:  # noqa: F821
            raise ValueError(f"unknown role {m['role']!r}")
        turn = encode(f"<|{m['role']}|>\n") + encode(m["content"] + "<|end|>") + encode("\n")
        ids += turn
        labels += turn if m["role"] == "assistant" else [-100] * len(turn)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(labels, dtype=torch.long)
