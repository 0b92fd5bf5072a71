"""Your bpe_encode hands the work to tiktoken; this exercise asks you to implement the merges yourself (tiktoken, tokenizers and sentencepiece are banned here).

zh: 你的 bpe_encode 把工作交给了 tiktoken；本练习要求你自己实现合并过程（这里禁止使用 tiktoken、tokenizers 与 sentencepiece）。
catches: banned_apis
"""


def bpe_encode(text, vocab, merges, special_tokens=()):
    import tiktoken

    ranks = {token: i for i, token in vocab.items() if i < 256 or i >= 256 + len(special_tokens)}
    specials = {s: 256 + k for k, s in enumerate(special_tokens)}
    enc = tiktoken.Encoding("course", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
    return enc.encode(text, allowed_special="all")
