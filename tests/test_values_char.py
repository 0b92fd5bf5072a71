"""Tagged request values (grader/protocol/values.py): what a check sends becomes the same object on both
sides of the boundary."""

from __future__ import annotations

import pytest

from grader.checks import char_encoder, describe_value, to_torch, to_wire
from grader.protocol import wire
from grader.protocol.values import CharEncoder, materialize


def test_char_encoder_crosses_the_wire_and_becomes_a_callable():
    vocab = {"<|end|>": 0, "\n": 1, "a": 2, "b": 3, "<": 4, "|": 5}
    request = to_wire([char_encoder(vocab), "ab"])
    received = wire.decode(wire.encode(request))                 # plain data only
    encode, text = materialize(received, lambda v: v)
    assert isinstance(encode, CharEncoder) and callable(encode)
    assert encode(text) == [2, 3]
    assert to_torch(request)[0]("ab<|end|>\n") == [2, 3, 0, 1]  # the trusted side builds the same


def test_char_encoder_longest_match_and_unknown_characters():
    encode = CharEncoder({"<|end|>": 0, "<|end|>\n": 9, "\n": 1, "<": 4, "|": 5, "a": 2})
    assert encode("a<|end|>\n") == [2, 9]                       # the longest token wins
    assert encode("a<|end|>") + encode("\n") == [2, 0, 1]       # separate calls do not merge
    assert encode("<|") == [4, 5] and encode("") == []
    with pytest.raises(ValueError):
        encode("z")
    assert "character encoder, 6 tokens" in describe_value(char_encoder(encode.vocab), "encode=")
