"""Your stream_decode decodes every token on its own, so a character split across two tokens comes out as replacement characters '\ufffd'.

zh: 你的 stream_decode 把每个 token 单独解码，被拆在两个 token 里的汉字就变成了替换字符 '\ufffd'。
catches: stream_decode_text, stream_decode_streaming
"""


def stream_decode(ids, vocab):
    for i in ids:
        text = vocab[i].decode("utf-8", errors="replace")
        if text:
            yield text
