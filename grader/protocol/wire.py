"""What crosses the process boundary: plain values and arrays, never pickle.

A message is ``MAGIC | u32 header length | JSON header | u64 length + raw bytes per array
or bytes value``.
The header holds the value tree: None, bool, int, float (NaN and ±inf allowed), str, lists,
and tagged objects for the rest::

    {"$t": [...]}                                   a tuple
    {"$d": {"key": value, ...}}                     a dict with str keys
    {"$m": [[key, value], ...]}                     a dict with int (or mixed int/str) keys
    {"$y": i}                                       bytes: raw buffer i
    {"$a": i, "dtype": "float32", "shape": [2, 3], "kind": "tensor" | "ndarray"}

The decoder accepts nothing else: unknown tags, dtypes outside the whitelist, shapes that do
not match the bytes, deep nesting and oversized messages are ``WireError``. The decoder
returns numpy arrays wrapped in ``Array`` (which remembers whether the sender had a torch
tensor); it never evaluates or imports anything the sender names.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:  # imported where used: starting a zygote (grader.host.pool) needs no numpy
    import numpy as np

MAGIC = b"GRW1"
DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64")
MAX_HEADER = 4 << 20  # bytes of JSON
MAX_MESSAGE = 512 << 20  # bytes in all
MAX_DEPTH = 32
MAX_ITEMS = 100_000  # nodes in the value tree
MAX_DIMS = 8


class WireError(ValueError):
    """A message that is not plain data of the agreed form."""


@dataclass(frozen=True)
class Array:
    """An array that crossed the wire; ``kind`` says what the sender held."""

    data: np.ndarray
    kind: str = "tensor"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> str:
        return str(self.data.dtype)


def _tensor_to_numpy(value: Any) -> np.ndarray | None:
    """Return a numpy copy of a torch tensor, or None when ``value`` is not one.

    torch is only looked up if the sender already imported it, so the wire itself never
    pulls torch into a process.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.Tensor):
        return None
    t = value.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    # A plain tensor view: a subclass cannot run its own code on the way out.
    t = torch.Tensor._make_subclass(torch.Tensor, t) if type(t) is not torch.Tensor else t
    return t.contiguous().numpy().copy()


_FLAT = (str, float)


def _flat(items: list, count: list[int]) -> bool:
    """Whether ``items`` is a list of ints, or of floats, or of strings (no bools, nothing
    nested), within the limits: sent and received as it is, without a walk per item."""
    if not items:
        return True
    first = type(items[0])
    if first is int:
        if not all(type(x) is int for x in items) or max(items) > 2**63 or min(items) < -(2**63):
            return False
    elif first in _FLAT:
        if not all(type(x) is first for x in items):
            return False
    else:
        return False
    count[0] += len(items)
    if count[0] > MAX_ITEMS:
        raise WireError("value is nested too deeply or has too many parts")
    return True


def encode(value: Any) -> bytes:
    """Encode a value tree; raise ``WireError`` for anything that is not plain data."""
    import numpy as np

    buffers: list[bytes] = []
    count = [0]

    def walk(v: Any, depth: int) -> Any:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise WireError("value is nested too deeply or has too many parts")
        t = type(v)
        if v is None or t is bool or t is str or t is float:
            return v
        if t is int:
            if abs(v) > 2**63:
                raise WireError("integer out of range")
            return v
        if t is list:
            if _flat(v, count):  # a list of numbers or strings (token ids, merges): as it is
                return v
            return [walk(x, depth + 1) for x in v]
        if t is tuple:
            return {"$t": [walk(x, depth + 1) for x in v]}
        if t is dict:
            if all(type(k) is str for k in v):
                return {"$d": {k: walk(x, depth + 1) for k, x in v.items()}}
            if not all(type(k) is str or (type(k) is int and abs(k) <= 2**63) for k in v):
                raise WireError("dict keys must be str or int")
            return {"$m": [[k, walk(x, depth + 1)] for k, x in v.items()]}
        if t is bytes:
            buffers.append(v)
            return {"$y": len(buffers) - 1}
        if isinstance(v, Array):
            return walk_array(v.data, v.kind)
        if isinstance(v, np.ndarray):
            return walk_array(v, "ndarray")
        if isinstance(v, (np.bool_, np.integer, np.floating)):
            return walk(v.item(), depth)
        arr = _tensor_to_numpy(v)
        if arr is not None:
            return walk_array(arr, "tensor")
        raise WireError(f"cannot send a value of type {type(v).__module__}.{type(v).__qualname__}")

    def walk_array(a: np.ndarray, kind: str) -> dict:
        dtype = str(a.dtype)
        if dtype not in DTYPES:
            raise WireError(f"array dtype {dtype} is not allowed")
        if a.ndim > MAX_DIMS:
            raise WireError("array has too many dimensions")
        buffers.append(np.ascontiguousarray(a).tobytes())
        return {"$a": len(buffers) - 1, "dtype": dtype, "shape": list(a.shape), "kind": kind}

    tree = walk(value, 0)
    header = json.dumps(tree, allow_nan=True, separators=(",", ":")).encode()
    if len(header) > MAX_HEADER:
        raise WireError("header too large")
    parts = [MAGIC, struct.pack("<I", len(header)), header]
    for b in buffers:
        parts.append(struct.pack("<Q", len(b)))
        parts.append(b)
    out = b"".join(parts)
    if len(out) > MAX_MESSAGE:
        raise WireError("message too large")
    return out


def decode(blob: bytes, max_size: int = MAX_MESSAGE) -> Any:
    """Decode a message made by ``encode``; everything else is a ``WireError``."""
    import numpy as np

    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise WireError("not bytes")
    blob = bytes(blob)
    if len(blob) > max_size:
        raise WireError("message too large")
    if len(blob) < 8 or blob[:4] != MAGIC:
        raise WireError("bad magic")
    (hlen,) = struct.unpack("<I", blob[4:8])
    if hlen > MAX_HEADER or 8 + hlen > len(blob):
        raise WireError("bad header length")
    try:
        tree = json.loads(blob[8 : 8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"header is not JSON: {exc}") from None
    buffers: list[bytes] = []
    pos = 8 + hlen
    while pos < len(blob):
        if pos + 8 > len(blob):
            raise WireError("truncated buffer length")
        (blen,) = struct.unpack("<Q", blob[pos : pos + 8])
        pos += 8
        if pos + blen > len(blob):
            raise WireError("truncated buffer")
        buffers.append(blob[pos : pos + blen])
        pos += blen
    used: set[int] = set()
    count = [0]

    def walk(v: Any, depth: int) -> Any:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise WireError("value is nested too deeply or has too many parts")
        t = type(v)
        if v is None or t is bool or t is str or t is float:
            return v
        if t is int:
            if abs(v) > 2**63:
                raise WireError("integer out of range")
            return v
        if t is list:
            if _flat(v, count):
                return v
            return [walk(x, depth + 1) for x in v]
        if t is not dict:
            raise WireError(f"unexpected JSON value {t.__name__}")
        if len(v) == 1:
            if "$t" in v and type(v["$t"]) is list:
                return tuple(walk(x, depth + 1) for x in v["$t"])
            if "$d" in v and type(v["$d"]) is dict:
                return {str(k): walk(x, depth + 1) for k, x in v["$d"].items()}
            if "$m" in v and type(v["$m"]) is list:
                return mapping(v["$m"], depth)
            if "$y" in v:
                return bytes(buffer(v["$y"]))
        elif len(v) == 4 and "$a" in v and "dtype" in v and "shape" in v and "kind" in v:
            return array(v)
        raise WireError("unknown object in header")

    def buffer(idx: Any) -> bytes:
        if type(idx) is not int or not 0 <= idx < len(buffers) or idx in used:
            raise WireError("bad buffer reference")
        used.add(idx)
        return buffers[idx]

    def mapping(pairs: list, depth: int) -> dict:
        out: dict = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (int, str):
                raise WireError("bad dict entry")
            if type(pair[0]) is int and abs(pair[0]) > 2**63:
                raise WireError("integer out of range")
            out[pair[0]] = walk(pair[1], depth + 1)
        return out

    def array(v: dict) -> Array:
        idx, dtype, shape, kind = v["$a"], v["dtype"], v["shape"], v["kind"]
        if dtype not in DTYPES:
            raise WireError(f"array dtype {dtype!r} is not allowed")
        if kind not in ("tensor", "ndarray"):
            raise WireError("bad array kind")
        if (
            type(shape) is not list
            or len(shape) > MAX_DIMS
            or not all(type(n) is int and 0 <= n < 2**40 for n in shape)
        ):
            raise WireError("bad array shape")
        raw = buffer(idx)
        dt = np.dtype(dtype)
        n = math.prod(shape)
        if n * dt.itemsize != len(raw):
            raise WireError("array bytes do not match its shape")
        data = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
        if dtype == "bool" and data.size and data.view(np.uint8).max() > 1:
            raise WireError("bad bool array")
        return Array(data, kind)

    value = walk(tree, 0)
    if len(used) != len(buffers):
        raise WireError("unreferenced array bytes")
    return value


# --- framing over a stream -------------------------------------------------------------


def send(stream: BinaryIO, value: Any) -> None:
    blob = encode(value)
    stream.write(struct.pack("<Q", len(blob)))
    stream.write(blob)
    stream.flush()


def recv_exact(read, n: int) -> bytes:
    chunks = []
    while n:
        chunk = read(n)
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv(stream: BinaryIO, max_size: int = MAX_MESSAGE) -> Any:
    (n,) = struct.unpack("<Q", recv_exact(stream.read, 8))
    if n > max_size:
        raise WireError("message too large")
    return decode(recv_exact(stream.read, n), max_size)
