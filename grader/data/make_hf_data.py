"""Build ``grader/data/hf.npz``: the byte-level BPE tokenizer the ``hf`` exercise exports.

Run from the repository root (needs the reference solutions, which are not shipped, and
tiktoken for the cross-check):

    python grader/data/make_hf_data.py            # writes grader/data/hf.npz

``export_pretrained`` receives a vocabulary and merges the way ``train_bpe`` (section 14,
exercise ``tokenizer``) makes them. The checks need a fixed one, and the texts it encodes
with their ids, so that the exported tokenizer can be judged without shipping a BPE
encoder (which is the ``tokenizer`` exercise's solution). This script trains it on the
bilingual paragraphs below with a small trainer that follows section 14 to the letter:

- pre-tokenisation cuts out the special tokens (leftmost-longest), then splits the rest
  with ``re.findall(SPLIT_PATTERN, text)``;
- ids 0..255 are the bytes, then the special tokens, then one id per merge; each merge
  joins the most frequent adjacent pair counted within chunks (weighted by the chunk's
  count, overlapping occurrences counted), ties to the greatest pair; merges apply left to
  right without overlap;
- encoding merges, within each chunk, the leftmost occurrence of the lowest-ranked pair,
  one at a time.

Every id list written here is checked against ``tiktoken.Encoding`` built from the same
ranks and pattern (the oracle section 14 names) and against the reference
``export_pretrained`` loaded with ``AutoTokenizer`` (so the exercise's checks are known to
pass on the reference); the script stops on any difference.

File contents (np.savez_compressed, plain arrays, load with np.load(allow_pickle=False)):
    vocab_bytes uint8, vocab_offsets int64 [V + 1]   token id i is vocab_bytes[o[i]:o[i+1]]
    merges int64 [M, 2]                              (left id, right id) in the order learned
    specials_bytes uint8, specials_offsets int64     the special tokens' UTF-8 text
    special_texts_*, special_ids_*                   texts encoded WITH the special tokens
    plain_texts_*, plain_ids_*                       texts encoded with special_tokens=[]
    pieces_*, piece_ids_*, piece_kind int8           chunks for composing random texts:
                                                     0 a word, 1 a word after one space,
                                                     2 a whitespace run (never a lone space)
(``*_bytes``/``*_offsets`` pack a list of UTF-8 strings, ``*_flat``/``*_offsets`` a list of
id lists.)

Measured: training takes ~1 s; the file is ~10 KiB. V = 560 (256 bytes, 4 special tokens,
300 merges), no two ids with the same bytes.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "hf.npz"

SPLIT_PATTERN = r" ?[^\s\x1c-\x1f]+|[\s\x1c-\x1f]+"
SPECIALS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
VOCAB_SIZE = 256 + len(SPECIALS) + 300

CORPUS = """\
A language model gives the probability of the next word given the words before it.
语言模型给出在前面的词已知时下一个词的概率。
Word vectors place words with similar meanings close together; the model learns them from text.
词向量把意思相近的词放在一起；模型从文本中学到它们。
Attention lets every position look at every other position and take what it needs.
注意力让每个位置都能看到其他位置，并取走它需要的信息。
The query asks, the key answers, and the value is what is handed over.
查询负责提问，键负责回答，值是被传递过去的内容。
A Transformer stacks attention and feed-forward layers with residual connections and layer normalisation.
Transformer 把注意力层和前馈层堆叠起来，并使用残差连接和层归一化。
BERT reads the whole sentence at once and fills in the masked words.
BERT 一次读完整个句子，并填出被遮住的词。
GPT reads from left to right and writes the next token, one token at a time.
GPT 从左往右读，一次写出一个词元。
<|system|>
You are a helpful assistant.<|end|>
<|user|>
北京在北纬多少度？<|end|>
<|assistant|>
北京大约在北纬四十度。<|end|>
<|user|>
What is LoRA?<|end|>
<|assistant|>
LoRA freezes the pretrained weights and trains a small low-rank update instead.<|end|>
Fine-tuning on a budget: freeze the model, train the adapters, and merge them back.
在有限的硬件资源上微调：冻结模型，训练适配器，再把它们合并回去。
The tokenizer turns text into ids; the model turns ids into probabilities; the sampler turns probabilities into text.
分词器把文本变成 id，模型把 id 变成概率，采样器再把概率变回文本。
Hugging Face hosts models, datasets and tokenizers, and every one of them loads with from_pretrained.
Hugging Face 上有模型、数据集和分词器，它们都可以用 from_pretrained 加载。
"""

# Fixed texts: English, Chinese, both, whitespace of every kind, digits, punctuation, emoji,
# bytes that merge across characters, the chat markers, an empty text.
SPECIAL_TEXTS = [
    "<|user|>\n你好！<|end|>\n<|assistant|>\nHello, world.<|end|>\n",
    "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\n北京在北纬多少度？<|end|>\n<|assistant|>\n",
    "the model<|end|>and the tokenizer<|end|><|end|> 模型<|user|>",
    "<|assistant|>LoRA 冻结预训练的权重。<|end|>",
    "a <|user|> b\n\n<|end|>  c",
    "<|end|",
]
PLAIN_TEXTS = [
    "",
    "Hello world",
    "The model learns word vectors from text.",
    "语言模型给出下一个词的概率。",
    "GPT模型一次写出一个词元：token by token.",
    "  two leading spaces,\tTabs\tand\nnew lines\n\n\nend ",
    "ideographic\u3000space\u3000和\u00a0no-break\u00a0space, \x1cfile separator\x1f here",
    "numbers 1234567 and 3.14159, emoji 🙂🚀 and 中文标点「引号」…",
    "fine-tuning on a budget: freeze, train, merge.",
    "<|end|> is only a special token when the tokenizer is told so",
    "Hugging Face hosts models, datasets and tokenizers.\r\n",
    " 北京大约在北纬四十度。",
]


# --- a BPE that follows section 14 (trusted, instructor-only) ---------------------------------


def split_specials(text: str, specials: list[str]) -> list[tuple[bool, str]]:
    """(is_special, part) in order; leftmost-longest matches of the special tokens."""
    if not specials:
        return [(False, text)] if text else []
    rx = re.compile("|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)))
    parts, pos = [], 0
    for m in rx.finditer(text):
        if m.start() > pos:
            parts.append((False, text[pos:m.start()]))
        parts.append((True, m.group()))
        pos = m.end()
    if pos < len(text):
        parts.append((False, text[pos:]))
    return parts


def chunks(text: str) -> list[str]:
    return re.findall(SPLIT_PATTERN, text)


def merge_pair(tokens: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    out, i = [], 0
    while i < len(tokens):
        if i + 1 < len(tokens) and (tokens[i], tokens[i + 1]) == pair:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def train(text: str, vocab_size: int, specials: list[str]) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    vocab = {i: bytes([i]) for i in range(256)}
    for s in specials:
        vocab[len(vocab)] = s.encode("utf-8")
    counts = Counter(c for special, part in split_specials(text, specials) if not special for c in chunks(part))
    words = {c: [bytes([b]) for b in c.encode("utf-8")] for c in counts}
    merges: list[tuple[bytes, bytes]] = []
    while len(vocab) < vocab_size:
        pairs: Counter = Counter()
        for c, n in counts.items():
            toks = words[c]
            for pair in zip(toks, toks[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        vocab[len(vocab)] = best[0] + best[1]
        words = {c: merge_pair(t, best) for c, t in words.items()}
    return vocab, merges


def encode(text: str, vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]], specials: list[str]) -> list[int]:
    ids_of = {b: i for i, b in vocab.items()}
    rank = {pair: r for r, pair in enumerate(merges)}
    out: list[int] = []
    for special, part in split_specials(text, specials):
        if special:
            out.append(ids_of[part.encode("utf-8")])
            continue
        for c in chunks(part):
            toks = [bytes([b]) for b in c.encode("utf-8")]
            while len(toks) > 1:
                r, i = min((rank.get(p, len(rank)), i) for i, p in enumerate(zip(toks, toks[1:])))
                if r == len(rank):
                    break
                toks = toks[:i] + [toks[i] + toks[i + 1]] + toks[i + 2:]
            out += [ids_of[t] for t in toks]
    return out


# --- pieces for random texts ----------------------------------------------------------------------


def pieces(texts: list[str]) -> list[tuple[str, int]]:
    """Distinct chunks with their kind: 0 word, 1 " word", 2 whitespace run (not " ")."""
    seen: dict[str, int] = {}
    for t in texts:
        for _, part in split_specials(t, SPECIALS):
            for c in chunks(part):
                if "<|" in c or "|>" in c or c == " ":
                    continue
                kind = 2 if c.isspace() else 1 if c.startswith(" ") else 0
                seen.setdefault(c, kind)
    return sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))


def pack_strings(items: list[str]) -> tuple[np.ndarray, np.ndarray]:
    raw = [s.encode("utf-8") for s in items]
    offsets = np.cumsum([0] + [len(b) for b in raw]).astype(np.int64)
    return np.frombuffer(b"".join(raw), dtype=np.uint8).copy(), offsets


def pack_ids(items: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0] + [len(x) for x in items]).astype(np.int64)
    return np.array([i for x in items for i in x], dtype=np.int64), offsets


# --- cross-checks -------------------------------------------------------------------------------


def check_tiktoken(vocab, merges, cases: list[tuple[str, list[str], list[int]]]) -> None:
    import tiktoken

    specials_at = {b: i for i, b in vocab.items() if 256 <= i < 256 + len(SPECIALS)}
    ranks = {b: i for i, b in vocab.items() if b not in specials_at}
    enc = tiktoken.Encoding("course", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks,
                            special_tokens={s: specials_at[s.encode()] for s in SPECIALS})
    for text, specials, ids in cases:
        want = enc.encode(text, allowed_special=set(specials), disallowed_special=())
        if want != ids:
            sys.exit(f"tiktoken disagrees on {text!r}: {want} vs {ids}")


def check_reference(vocab, merges, cases: list[tuple[str, list[str], list[int]]]) -> None:
    import tempfile

    sys.path.insert(0, str(ROOT / "solutions"))
    import hf  # the reference export (this import makes the script instructor-only)
    from models import MiniGPT
    from transformers import AutoTokenizer

    model = MiniGPT(len(vocab), 8, 8, 2, 1)
    for specials in ([], SPECIALS):
        files = hf.export_pretrained(model, vocab, merges, specials)
        with tempfile.TemporaryDirectory() as d:
            for name, blob in files.items():
                Path(d, name).write_bytes(blob)
            tok = AutoTokenizer.from_pretrained(d, local_files_only=True)
        for text, sp, ids in cases:
            if sp == specials and tok.encode(text) != ids:
                sys.exit(f"the reference export disagrees on {text!r}: {tok.encode(text)} vs {ids}")


def main() -> None:
    vocab, merges = train(CORPUS, VOCAB_SIZE, SPECIALS)
    assert len(vocab) == VOCAB_SIZE and len(set(vocab.values())) == len(vocab), "duplicate tokens"
    ids_of = {b: i for i, b in vocab.items()}
    special_ids = [encode(t, vocab, merges, SPECIALS) for t in SPECIAL_TEXTS]
    plain_ids = [encode(t, vocab, merges, []) for t in PLAIN_TEXTS]
    found = pieces(PLAIN_TEXTS + SPECIAL_TEXTS + CORPUS.splitlines(keepends=True))
    piece_ids = [encode(p, vocab, merges, []) for p, _ in found]
    cases = ([(t, SPECIALS, i) for t, i in zip(SPECIAL_TEXTS, special_ids)]
             + [(t, [], i) for t, i in zip(PLAIN_TEXTS, plain_ids)]
             + [(p, [], i) for (p, _), i in zip(found, piece_ids)])
    check_tiktoken(vocab, merges, cases)
    check_reference(vocab, merges, cases)

    arrays: dict[str, np.ndarray] = {}
    raw = [vocab[i] for i in range(len(vocab))]
    arrays["vocab_bytes"] = np.frombuffer(b"".join(raw), dtype=np.uint8).copy()
    arrays["vocab_offsets"] = np.cumsum([0] + [len(b) for b in raw]).astype(np.int64)
    arrays["merges"] = np.array([[ids_of[a], ids_of[b]] for a, b in merges], dtype=np.int64)
    arrays["specials_bytes"], arrays["specials_offsets"] = pack_strings(SPECIALS)
    for name, texts, ids in (("special", SPECIAL_TEXTS, special_ids), ("plain", PLAIN_TEXTS, plain_ids)):
        arrays[f"{name}_texts_bytes"], arrays[f"{name}_texts_offsets"] = pack_strings(texts)
        arrays[f"{name}_ids_flat"], arrays[f"{name}_ids_offsets"] = pack_ids(ids)
    arrays["pieces_bytes"], arrays["pieces_offsets"] = pack_strings([p for p, _ in found])
    arrays["piece_ids_flat"], arrays["piece_ids_offsets"] = pack_ids(piece_ids)
    arrays["piece_kind"] = np.array([k for _, k in found], dtype=np.int8)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT.relative_to(ROOT)}: V={len(vocab)}, {len(merges)} merges, {len(found)} pieces, "
          f"{OUT.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
