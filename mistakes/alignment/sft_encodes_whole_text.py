r"""You encode the whole formatted conversation at once: with a tokenizer whose tokens straddle the pieces (here "<|end|>\n"), the ids differ from the three separate encode calls per turn.

zh: 你一次性编码了整段格式化后的对话：当分词器的词跨越各个片段（这里是 "<|end|>\n"）时，ids 与每轮三次单独调用 encode 的结果不同。
catches: build_sft_example_reference
"""

import torch


def build_sft_example(messages, encode):
    ids = encode(format_chat(messages))  # noqa: F821
    labels = [-100] * len(ids)
    text = ""
    for m in messages:
        text += f"<|{m['role']}|>\n"
        start = len(encode(text))
        text += m["content"] + "<|end|>"
        end = len(encode(text))
        if m["role"] == "assistant":
            labels[start:end] = ids[start:end]
        text += "\n"
    return torch.tensor(ids, dtype=torch.long), torch.tensor(labels, dtype=torch.long)
