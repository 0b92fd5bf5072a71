"""The static scan for banned APIs: ``pkg.*`` bans a whole package (the tokenizer exercise)."""

from __future__ import annotations

from grader.banned import Submission, scan_scope

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


def _apis(tmp_path, scope, banned=BANNED):
    (tmp_path / "ex.py").write_text(SOURCE)
    _, hits = scan_scope(Submission(tmp_path), "ex", scope, banned)
    return [h.api for h in hits]


def test_a_package_wildcard_bans_every_name_beneath_it(tmp_path):
    assert any(api.startswith("tiktoken") for api in _apis(tmp_path, "a"))
    assert any(api.startswith("tokenizers") or api.startswith("tm") for api in _apis(tmp_path, "b"))
    assert any("sentencepiece" in api for api in _apis(tmp_path, "c"))


def test_exact_names_still_work_and_prefixes_need_a_dot(tmp_path):
    assert _apis(tmp_path, "d")
    assert _apis(tmp_path, "tiktoken_like") == []
    assert _apis(tmp_path, "a", ["tiktoken.Enc"]) == []
