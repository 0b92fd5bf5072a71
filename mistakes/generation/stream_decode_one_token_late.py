"""Your stream_decode holds back the last token's bytes until the next token arrives, so every piece is shown one token late.

zh: 你的 stream_decode 总是把最后一个 token 的字节留到下一个 token 到来时才输出，每段文字都晚了一个 token。
catches: stream_decode_streaming
"""


def stream_decode(ids, vocab):
    pending = b""
    buffered = b""
    for i in ids:
        if pending:
            buffered += pending
            cut = len(buffered)
            while cut > 0:
                try:
                    text = buffered[:cut].decode("utf-8")
                    break
                except UnicodeDecodeError:
                    cut -= 1
            else:
                text = ""
            if text:
                yield text
            buffered = buffered[cut:]
        pending = vocab[i]
    tail = (buffered + pending).decode("utf-8", errors="replace")
    if tail:
        yield tail
