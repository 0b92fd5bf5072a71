"""From text to ids / 从文本到 id：字符词表与字节级 BPE.

A model reads ids, not text (§1 "用一个 id 表示一个词？"), and its LM head has one output per
entry of the vocabulary (vocab size). This exercise builds the two usual ways to get there:

- a character vocabulary: every Unicode character is one token, so "一天一部 Iphone" is
  11 ids, and a character never seen in training becomes ``<unk>``;
- byte-level BPE (GPT-2, GPT-4, Llama 3): start from the 256 bytes of UTF-8, so NOTHING is
  ever unknown (emoji, Chinese, accents are all bytes), then repeatedly merge the most
  frequent adjacent pair into a new token. Frequent words end up as one token, rare ones as
  a few pieces, and decoding the bytes gives the text back exactly.

Pre-tokenisation (both training and encoding): special tokens such as ``<|endoftext|>`` are
cut out first and kept whole; the rest is split into chunks with ``SPLIT_PATTERN`` (a word
with at most one leading space, or a run of whitespace). Merges never cross a chunk.

模型读的是 id 而不是文字。字符词表把每个字符（包括汉字）当作一个 token，没见过的字变成
``<unk>``；字节级 BPE 从 UTF-8 的 256 个字节出发，任何文字都不会"未知"，再不断把最常见的相邻
两个 token 合并成一个新 token。特殊 token（如 ``<|endoftext|>``）永远不会被拆开或合并。

Lecture: §1 "如何表示一个词的含义？" (用一个 id 表示一个词), "🤗 Transformer" (LM Head 的输出维度为
词表大小 vocab size).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

# A word with at most one leading space, or a run of whitespace. \x1c-\x1f are spelled out because
# Python's \s matches them and the Rust regex engines of tiktoken / tokenizers do not.
SPLIT_PATTERN = r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+"


# --- a character vocabulary -----------------------------------------------------------------------


def build_vocab(texts: list[str], min_freq: int = 1,
                specials: tuple[str, ...] = ("<pad>", "<unk>", "<bos>", "<eos>")) -> dict[str, int]:
    """Character-level vocabulary / 字符级词表.

    ids 0..S-1: the specials, in the given order; then every character that occurs at least
    ``min_freq`` times in ``texts`` (all texts together), most frequent first; characters
    with the same count in code-point order (``"a" < "b" < "中"``, i.e. sorted(str)).

    Args:
        texts: the training texts; not modified.
        min_freq: the least count a character needs to get an id.
        specials: distinct strings, each given its id first (a character that is also a
            special keeps the special's id).
    Returns:
        dict token -> id with ids 0..len-1.

    例如 build_vocab(["我是大学生", "我是"], specials=("<unk>",)) =
    {"<unk>": 0, "我": 1, "是": 2, "大": 3, "学": 4, "生": 5}：按出现次数从多到少，次数相同按码位。
    """
    # TODO: count every character (collections.Counter); specials first, then the characters
    #       sorted by (-count, character) that occur at least min_freq times.
    # BEGIN SOLUTION
    counts = Counter(ch for text in texts for ch in text)
    vocab = {token: i for i, token in enumerate(specials)}
    for ch, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):   # count down, then code point
        if n >= min_freq and ch not in vocab:
            vocab[ch] = len(vocab)
    return vocab
    # END SOLUTION


def encode_chars(text: str, vocab: dict[str, int]) -> list[int]:
    """Characters to ids / 字符转 id.

    One id per character of ``text``; a character not in ``vocab`` becomes the id of
    ``"<unk>"``. Special strings in the text are NOT recognised: "<pad>" in the text is five
    characters. An unknown character when ``vocab`` has no ``"<unk>"`` raises ValueError.

    例如 "我是小明" 中 "小"、"明" 不在词表里时都变成 <unk> 的 id；文本中的 "<pad>" 只是五个普通字符。
    """
    # TODO: look each character up; fall back to vocab["<unk>"] (ValueError if there is none).
    # BEGIN SOLUTION
    unk = vocab.get("<unk>")
    ids = []
    for ch in text:
        if ch in vocab:
            ids.append(vocab[ch])
        elif unk is None:
            raise ValueError(f"character {ch!r} is not in the vocabulary, which has no '<unk>'")
        else:
            ids.append(unk)
    return ids
    # END SOLUTION


def decode_chars(ids: list[int], vocab: dict[str, int]) -> str:
    """Ids to text / id 转回文本.

    The characters of the ids, joined. Entries of ``vocab`` that are not a single character
    are the specials (``<pad>``, ``<bos>``, ``<unk>``, ...) and are dropped, so
    ``decode_chars(encode_chars(x, v), v) == x`` whenever every character of x is in v.
    Every id must be in ``vocab`` (others are outside the contract).

    词表中长度不为 1 的条目是特殊 token，解码时丢掉。
    """
    # TODO: invert the vocabulary (id -> token) and join the single-character tokens.
    # BEGIN SOLUTION
    token_of = {i: token for token, i in vocab.items()}
    missing = [i for i in ids if i not in token_of]
    if missing:
        raise ValueError(f"id {missing[0]} is not in the vocabulary")
    return "".join(t for t in (token_of[i] for i in ids) if len(t) == 1)
    # END SOLUTION


# --- byte-level BPE -------------------------------------------------------------------------------


def pretokenize(text: str, special_tokens: Sequence[str] = ()) -> list[str]:
    """Cut out special tokens, split the rest into chunks / 预切分.

    Special tokens are found first, leftmost-longest (at the earliest position; of the
    specials that start there, the longest) and kept whole as pieces of their own; the text
    between them is split with ``re.findall(SPLIT_PATTERN, ...)``. Joining the pieces gives
    ``text`` back.

    pretokenize("Hi  there<|endoftext|>中文!", ["<|endoftext|>"])
        == ["Hi", "  ", "there", "<|endoftext|>", "中文!"]

    A helper for train_bpe and bpe_encode (not graded on its own). Special tokens are
    non-empty strings.

    先按"最左最长"切出特殊 token（保持完整），其余部分用 SPLIT_PATTERN 切成块。
    """
    # TODO: one regex alternation of the escaped specials, longest first, in a capturing group:
    #       re.split then puts the specials at odd positions; findall the rest with SPLIT_PATTERN.
    # BEGIN SOLUTION
    if not special_tokens:
        return re.findall(SPLIT_PATTERN, text)
    if any(not s for s in special_tokens):
        raise ValueError("special tokens must be non-empty strings")
    longest_first = sorted(special_tokens, key=len, reverse=True)
    parts = re.split("(" + "|".join(map(re.escape, longest_first)) + ")", text)
    pieces = []
    for i, part in enumerate(parts):
        if i % 2:                            # the captured special tokens sit at odd positions
            pieces.append(part)
        else:
            pieces.extend(re.findall(SPLIT_PATTERN, part))
    return pieces
    # END SOLUTION


def merge_pair(tokens: tuple[bytes, ...] | list[bytes], pair: tuple[bytes, bytes]) -> tuple[bytes, ...]:
    """Replace every occurrence of ``pair`` by one token, left to right, without overlap.

    merge_pair((b"a", b"a", b"a"), (b"a", b"a")) == (b"aa", b"a")

    A helper for train_bpe and bpe_encode (not graded on its own).
    从左到右、不重叠地把每一处相邻的 pair 合并成一个 token。
    """
    # TODO: walk with an index i; when tokens[i], tokens[i + 1] == pair, emit the join and skip 2.
    # BEGIN SOLUTION
    out, i = [], 0
    while i < len(tokens):
        if i + 1 < len(tokens) and tokens[i] == pair[0] and tokens[i + 1] == pair[1]:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return tuple(out)
    # END SOLUTION


def train_bpe(text: str, vocab_size: int,
              special_tokens: Sequence[str] = ()) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Learn a byte-level BPE vocabulary / 训练字节级 BPE.

    Vocabulary layout: ids 0..255 are the single bytes (``vocab[i] == bytes([i])``), then the
    special tokens' UTF-8 bytes in the given order, then one id per merge in the order
    learned (``vocab[id] == left + right``).

    Training: pretokenize(text, special_tokens) with the special tokens left out; each chunk
    is the sequence of its UTF-8 bytes, weighted by how often the chunk occurs. Repeat:
    1. count every adjacent pair of tokens inside each chunk (times the chunk's count);
       overlapping pairs count, so ``aaa`` holds two ``(a, a)``;
    2. take the pair with the greatest ``(count, (left, right))`` under Python's tuple
       order: the most frequent, and among equally frequent pairs the greatest one compared
       as a tuple of byte strings (``(b"t", b"h") > (b"e", b" ")``; token ids play no part);
    3. merge it in every chunk, left to right without overlap (``aaa`` -> ``aa a``);
    until ``len(vocab) == vocab_size`` or no chunk has two tokens left (then fewer merges).

    Args:
        text: the training text (any Unicode without lone surrogates).
        vocab_size: the wanted size; below ``256 + len(special_tokens)`` raises ValueError.
        special_tokens: distinct non-empty strings; never split, never merged.
    Returns:
        (vocab: dict id -> bytes, merges: list of (left, right) byte pairs in the order learned).

    Within a time budget the grader states: a few hundred merges on a corpus of about
    20 KB must take seconds, not minutes (count pairs over the DISTINCT chunks, with weights).

    从 256 个字节出发，每一步把出现次数最多的相邻 pair 合并成新 token（次数相同取 (left, right)
    按字节串比较最大的那个），直到词表大小达到 vocab_size。特殊 token 不参与统计与合并。

    Lecture: "🤗 Transformer" (词表大小 vocab size): GPT-2's byte-level BPE.
    """
    # TODO: vocab with the 256 bytes and the specials; Counter of the chunks (specials left out);
    #       each distinct chunk as a tuple of single bytes; loop: count pairs (weighted), take the
    #       max of (count, pair), merge_pair it in every chunk, record it.
    # BEGIN SOLUTION
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(f"vocab_size {vocab_size} is smaller than 256 bytes + "
                         f"{len(special_tokens)} special tokens")
    vocab = {i: bytes([i]) for i in range(256)}
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    specials = set(special_tokens)
    chunks = Counter(p for p in pretokenize(text, special_tokens) if p not in specials)
    words = [tuple(bytes([b]) for b in chunk.encode("utf-8")) for chunk in chunks]
    weight = list(chunks.values())                  # how often each distinct chunk occurs
    counts: Counter = Counter()                     # pair -> weighted count, kept up to date
    holders = defaultdict(set)                      # pair -> the chunks that may hold it
    for i, word in enumerate(words):
        for pair in zip(word, word[1:]):
            counts[pair] += weight[i]
            holders[pair].add(i)
    merges = []
    while len(vocab) < vocab_size and counts:
        most = max(counts.values())
        pair = max(p for p, n in counts.items() if n == most)   # ties: the greatest (left, right)
        for i in holders.pop(pair):                 # only the chunks holding the pair change
            old = words[i]
            new = words[i] = merge_pair(old, pair)
            for p in zip(old, old[1:]):
                counts[p] -= weight[i]
            for p in zip(new, new[1:]):
                counts[p] += weight[i]
                holders[p].add(i)
            for p in zip(old, old[1:]):
                if counts[p] == 0:
                    del counts[p]
        merges.append(pair)
        vocab[len(vocab)] = pair[0] + pair[1]
    return vocab, merges
    # END SOLUTION


def bpe_encode(text: str, vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]],
               special_tokens: Sequence[str] = ()) -> list[int]:
    """Text to BPE ids / BPE 编码.

    pretokenize(text, special_tokens); a special token becomes its own single id (the id
    whose vocab entry is its UTF-8 bytes). Each chunk starts as its UTF-8 bytes; then
    repeatedly merge the leftmost occurrence of the adjacent pair with the LOWEST merge rank
    (its index in ``merges``) present, one at a time, until no adjacent pair is a merge. A
    token's id is the id whose vocab entry holds its bytes. The rank decides, not how often a
    pair occurs in this text, and not where it is.

    Args:
        text: any Unicode; a lone surrogate (e.g. "\\ud800") has no UTF-8 bytes: ValueError.
        vocab, merges: as returned by train_bpe (every vocab entry distinct).
        special_tokens: strings whose occurrences become single ids ([] = none: then
            "<|endoftext|>" in the text is ordinary text). Each must be in vocab.
    Returns:
        list of ids; ``bpe_decode(bpe_encode(x, ...), vocab) == x``.

    For train_bpe vocabularies this equals ``tiktoken.Encoding`` built from the same ranks
    and SPLIT_PATTERN. Merging every occurrence of the lowest-rank pair at once gives the
    same result as one at a time (pairs that a merge creates always rank later).

    每个块从 UTF-8 字节开始，反复合并"合并序号最小"的相邻 pair（最左边的那一处），直到没有可合并的
    pair。决定顺序的是训练时的合并顺序，而不是这段文本里 pair 出现的次数。
    """
    # TODO: ranks = {pair: index}; id_of = {bytes: id}; per chunk: bytes -> single-byte tokens;
    #       while some adjacent pair is in ranks: merge the one with the smallest rank.
    # BEGIN SOLUTION
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"text has a lone surrogate at position {err.start}: it has no UTF-8 bytes") from None
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    id_of = {token: i for i, token in vocab.items()}
    specials = set(special_tokens)
    ids = []
    for piece in pretokenize(text, special_tokens):
        if piece in specials:
            ids.append(id_of[piece.encode("utf-8")])
            continue
        tokens = tuple(bytes([b]) for b in piece.encode("utf-8"))
        while len(tokens) > 1:
            pair = min(zip(tokens, tokens[1:]), key=lambda p: ranks.get(p, len(ranks)))
            if pair not in ranks:
                break
            tokens = merge_pair(tokens, pair)
        ids.extend(id_of[t] for t in tokens)
    return ids
    # END SOLUTION


def bpe_decode(ids: list[int], vocab: dict[int, bytes]) -> str:
    """BPE ids to text / BPE 解码.

    The tokens' bytes joined, then decoded as UTF-8 with ``errors="replace"``: ids that
    stop in the middle of a character (the first byte of "中" alone) give "\\ufffd"
    instead of an error. Decode the JOINED bytes, not each token on its own: a Chinese
    character is often split over two tokens.

    先把所有 token 的字节拼接起来，再用 errors="replace" 解码（不要逐个 token 解码）。
    """
    # TODO: b"".join(...) then .decode("utf-8", errors="replace").
    # BEGIN SOLUTION
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")
    # END SOLUTION
