"""Your labels stop before <|end|>: the model never learns to end its answer, so it would talk on forever.

zh: 你的 labels 在 <|end|> 之前就结束了：模型学不会结束回答，会一直说下去。
catches: build_sft_example_reference, build_sft_example_labels
"""

import torch


def build_sft_example(messages, encode):
    ids, labels = [], []
    for m in messages:
        if m["role"] not in ROLES:  # noqa: F821
            raise ValueError(f"unknown role {m['role']!r}")
        head, body, sep = encode(f"<|{m['role']}|>\n"), encode(m["content"] + "<|end|>"), encode("\n")
        ids += head + body + sep
        keep = body[:-1] + [-100] if m["role"] == "assistant" else [-100] * len(body)
        labels += [-100] * len(head) + keep + [-100] * len(sep)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(labels, dtype=torch.long)
