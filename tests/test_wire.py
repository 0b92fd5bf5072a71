"""The wire carries plain data only: round trips, and a fuzzed decoder that rejects the rest."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader.protocol import wire
from grader.protocol.wire import Array, WireError

scalars = (st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.floats() | st.text(max_size=20)
           | st.binary(max_size=12))
arrays = st.sampled_from(wire.DTYPES).flatmap(
    lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
).map(lambda a: Array(a, "tensor"))
values = st.recursive(
    scalars | arrays,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    | st.dictionaries(st.integers(-(2**62), 2**62) | st.text(max_size=3), inner, max_size=4),
    max_leaves=12,
)


def same(a, b) -> bool:
    if isinstance(a, Array):
        return isinstance(b, Array) and a.kind == b.kind and a.data.dtype == b.data.dtype and \
            np.array_equal(a.data, b.data, equal_nan=a.data.dtype.kind == "f")
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=200, deadline=None)
@given(values)
def test_round_trip(value):
    assert same(wire.decode(wire.encode(value)), value)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_rejected_or_plain(blob):
    try:
        out = wire.decode(blob)
    except WireError:
        return
    assert _plain(out)


@settings(max_examples=300, deadline=None)
@given(values, st.integers(0, 10_000), st.integers(0, 255))
def test_corrupted_messages_are_rejected_or_plain(value, pos, byte):
    blob = bytearray(wire.encode(value))
    blob[pos % len(blob)] = byte
    try:
        out = wire.decode(bytes(blob))
    except WireError:
        return
    assert _plain(out)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.integers() | st.text(max_size=5) | st.booleans(),
                    lambda i: st.lists(i, max_size=3) | st.dictionaries(st.text(max_size=4), i, max_size=3),
                    max_leaves=10))
def test_arbitrary_json_headers_are_rejected_or_plain(tree):
    header = json.dumps(tree).encode()
    blob = wire.MAGIC + struct.pack("<I", len(header)) + header
    try:
        out = wire.decode(blob)
    except WireError:
        return
    assert _plain(out)


def _plain(v) -> bool:
    if v is None or type(v) in (bool, int, float, str, bytes):
        return True
    if isinstance(v, Array):
        return type(v.data) is np.ndarray and str(v.data.dtype) in wire.DTYPES
    if type(v) in (list, tuple):
        return all(_plain(x) for x in v)
    if type(v) is dict:
        return all(type(k) in (str, int) and _plain(x) for k, x in v.items())
    return False


@pytest.mark.parametrize("blob", [
    pickle.dumps({"a": 1}),
    b"GRW1" + struct.pack("<I", 2) + b"{}" + struct.pack("<Q", 3) + b"abc",  # unreferenced bytes
    b"GRW1" + struct.pack("<I", 60) + b'{"$a":0,"dtype":"object","shape":[1],"kind":"tensor"}' + b" " * 7,
    b"GRW1" + struct.pack("<I", 10**9),
])
def test_hand_made_bad_messages(blob):
    with pytest.raises(WireError):
        wire.decode(blob)


def test_object_dtype_and_unknown_types_are_not_sent():
    with pytest.raises(WireError):
        wire.encode(np.array([object()], dtype=object))
    with pytest.raises(WireError):
        wire.encode({"f": lambda: 1})
    with pytest.raises(WireError):
        wire.encode({(1, 2): 3})
    with pytest.raises(WireError):
        wire.encode({True: 3})
    with pytest.raises(WireError):
        wire.encode(bytearray(b"ab"))


def test_bytes_and_int_keys_round_trip():
    value = {0: b"\x00", 256: b"<|endoftext|>", "n": [(b"a", b"bc")], -3: b""}
    out = wire.decode(wire.encode(value))
    assert out == value and all(type(k) is type(j) for k, j in zip(out, value))
    assert type(out[0]) is bytes


@pytest.mark.parametrize("header", [
    {"$y": 1}, {"$y": "0"}, {"$m": [[1.5, 2]]}, {"$m": [[1, 2, 3]]}, {"$m": [[[1], 2]]}, {"$m": {"1": 2}},
])
def test_bad_bytes_and_mappings_are_rejected(header):
    raw = json.dumps(header).encode()
    blob = wire.MAGIC + struct.pack("<I", len(raw)) + raw + struct.pack("<Q", 1) + b"x"
    with pytest.raises(WireError):
        wire.decode(blob)


def test_a_buffer_is_used_once():
    raw = json.dumps([{"$y": 0}, {"$y": 0}]).encode()
    blob = wire.MAGIC + struct.pack("<I", len(raw)) + raw + struct.pack("<Q", 1) + b"x"
    with pytest.raises(WireError):
        wire.decode(blob)


def test_shape_must_match_bytes():
    header = json.dumps({"$a": 0, "dtype": "float64", "shape": [3], "kind": "tensor"}).encode()
    blob = wire.MAGIC + struct.pack("<I", len(header)) + header + struct.pack("<Q", 16) + b"\0" * 16
    with pytest.raises(WireError):
        wire.decode(blob)


def test_tensor_subclass_is_sent_as_plain_values():
    import torch

    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    t = torch.arange(3.0).as_subclass(Liar)
    out = wire.decode(wire.encode(t))
    assert isinstance(out, Array) and out.data.tolist() == [0.0, 1.0, 2.0]
