"""Your pretokenize matches special tokens in the order they are listed ("<s>" before "<s>!"), so "<s>!" is cut as "<s>" + "!"; at each position the longest special token wins (sort them longest first).

zh: 你的 pretokenize 按列表顺序匹配特殊 token（"<s>" 在 "<s>!" 之前），于是 "<s>!" 被切成 "<s>" + "!"；同一位置应取最长的特殊 token（先按长度从长到短排序）。
catches: bpe_encode_reference
"""


def pretokenize(text, special_tokens=()):
    if not special_tokens:
        return re.findall(SPLIT_PATTERN, text)
    parts = re.split("(" + "|".join(map(re.escape, special_tokens)) + ")", text)
    pieces = []
    for i, part in enumerate(parts):
        if i % 2:
            pieces.append(part)
        else:
            pieces.extend(re.findall(SPLIT_PATTERN, part))
    return pieces
