r"""Your generation prompt is "<|assistant|>" without the "\n": the model would start its answer on the header's line, unlike every turn it was trained on.

zh: 你的生成提示是 "<|assistant|>"，少了 "\n"：模型会在标题同一行开始回答，与训练时的每一轮都不一样。
catches: format_chat_reference
"""


def format_chat(messages, add_generation_prompt=False):
    for m in messages:
        if m["role"] not in ROLES:  # noqa: F821
            raise ValueError(f"unknown role {m['role']!r}")
    text = "".join(CHAT_TEMPLATE.format(role=m["role"], content=m["content"]) for m in messages)  # noqa: F821
    return text + "<|assistant|>" if add_generation_prompt else text
