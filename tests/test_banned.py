"""The static scan for banned APIs: exact names, and ``pkg.*`` for a whole package."""

from __future__ import annotations

from grader.banned import scan

SOURCE = '''
import tiktoken
import tokenizers.models as tm
from sentencepiece import SentencePieceProcessor
import torch.nn.functional as F


def a(text):
    return tiktoken.Encoding("x", pat_str="", mergeable_ranks={}, special_tokens={})


def b(text):
    return tm.BPE()


def c(text):
    return SentencePieceProcessor()


def d(x):
    return F.softmax(x, -1), tiktoken_like(x)


def tiktoken_like(x):
    return x
'''

BANNED = ["tiktoken.*", "tokenizers.*", "sentencepiece.*", "torch.nn.functional.softmax"]


def test_a_package_wildcard_bans_every_name_beneath_it():
    assert [api for _, api in scan(SOURCE, "a", BANNED)] == ["tiktoken", "tiktoken.Encoding"]
    assert "tokenizers.models.BPE" in [api for _, api in scan(SOURCE, "b", BANNED)]
    assert [api for _, api in scan(SOURCE, "c", BANNED)] == ["sentencepiece.SentencePieceProcessor"]


def test_exact_names_still_work_and_prefixes_need_a_dot():
    assert [api for _, api in scan(SOURCE, "d", BANNED)] == ["torch.nn.functional.softmax"]
    assert scan(SOURCE, "tiktoken_like", BANNED) == []
    assert scan(SOURCE, "a", ["tiktoken.Enc"]) == []
