"""Your stream_decode reads every id before it yields anything: the text is right, but nothing is shown while the model is still generating.

zh: 你的 stream_decode 读完所有 id 之后才输出：文字是对的，但模型生成的过程中什么都显示不出来。
catches: stream_decode_streaming
"""


def stream_decode(ids, vocab):
    data = b"".join(vocab[i] for i in ids)
    yield data.decode("utf-8", errors="replace")
