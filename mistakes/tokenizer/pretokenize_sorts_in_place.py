"""Your pretokenize sorts the caller's special_tokens list in place (special_tokens.sort(...)); sort a copy (sorted(...)) so the list the caller passed stays as it was.

zh: 你的 pretokenize 原地排序了调用者传入的 special_tokens（special_tokens.sort(...)）；应该对副本排序（sorted(...)），保持调用者的列表不变。
catches: train_bpe_behaviour, bpe_encode_behaviour
"""


def pretokenize(text, special_tokens=()):
    if not special_tokens:
        return re.findall(SPLIT_PATTERN, text)
    special_tokens.sort(key=len, reverse=True)
    parts = re.split("(" + "|".join(map(re.escape, special_tokens)) + ")", text)
    pieces = []
    for i, part in enumerate(parts):
        if i % 2:
            pieces.append(part)
        else:
            pieces.extend(re.findall(SPLIT_PATTERN, part))
    return pieces
