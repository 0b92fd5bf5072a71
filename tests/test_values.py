"""Tagged request values (grader/protocol/values.py): what the worker builds from them."""

from __future__ import annotations

import numpy as np
import torch

from grader.protocol.values import ShapeLog, materialize
from grader.protocol.wire import Array, decode, encode


def _leaf(v):
    return torch.from_numpy(v.data.copy()) if isinstance(v, Array) else torch.from_numpy(v)


def test_bytes_and_int_keyed_dicts_cross_the_wire():
    sent = {0: b"\xe5\x8c", 7: b"", 300: [1, 2]}  # a vocabulary: id -> bytes, as it is
    got = materialize(decode(encode(sent)), _leaf)
    assert got == {0: b"\xe5\x8c", 7: b"", 300: [1, 2]}
    assert all(type(k) is int for k in got)
    assert materialize({"$bytes": 5}, _leaf) == {"$bytes": 5}  # not a tag: left as data


def test_shape_log_records_each_call_as_a_forward_pre_hook():
    log = materialize(decode(encode({"$shape_log": None})), _leaf)
    assert isinstance(log, ShapeLog) and log.calls == []
    lin = torch.nn.Linear(3, 2)
    lin.register_forward_pre_hook(log)
    x = torch.randn(4, 5, 3)
    out = lin(x)
    lin(x[:, :1])
    assert torch.equal(out, torch.nn.functional.linear(x, lin.weight, lin.bias))
    assert log.calls == [[[4, 5, 3]], [[4, 1, 3]]]
    assert np.array_equal(decode(encode(log.calls)), log.calls)
