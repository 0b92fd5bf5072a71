"""Your bpe_decode decodes each token on its own; a Chinese character split over two tokens then becomes two "\ufffd". Join all the bytes first, then decode once.

zh: 你的 bpe_decode 逐个 token 解码；被分在两个 token 里的汉字就变成了两个 "\ufffd"。应先拼接所有字节，再一次性解码。
catches: bpe_decode_reference, bpe_roundtrip
"""


def bpe_decode(ids, vocab):
    return "".join(vocab[i].decode("utf-8", errors="replace") for i in ids)
