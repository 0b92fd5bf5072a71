"""Your format_chat accepts any role: a typo such as "Assistant" or an unknown "tool" turn is silently formatted instead of raising ValueError.

zh: 你的 format_chat 接受任何角色："Assistant" 这样的拼写错误或未知的 "tool" 轮次被直接格式化，而不是抛出 ValueError。
catches: format_chat_behaviour
"""


def format_chat(messages, add_generation_prompt=False):
    text = "".join(CHAT_TEMPLATE.format(role=m["role"], content=m["content"]) for m in messages)  # noqa: F821
    return text + GENERATION_PROMPT if add_generation_prompt else text  # noqa: F821
