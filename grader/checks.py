"""What a check is, and the tools check code uses (trusted side; never imports student code).

An exercise's checks live in ``grader/course/<id>.py`` as a ``Checks`` registry::

    checks = Checks("attention")

    @checks.compare("softmax_reference", "softmax matches the reference", fn="softmax")
    def _(rng):                      # fixed cases (snapshot) and fresh draws (official mode)
        yield Case(args=(rng.standard_normal((2, 3, 5)),), kwargs={"dim": -1})

    @checks.property("softmax_properties", "softmax: rows sum to 1 ...", uses=("softmax",))
    def _(ctx):
        @ctx.given(arrays(...))
        def prop(x):
            y = ctx.call("softmax", x)
            assert np.allclose(y.sum(-1), 1), "rows do not sum to 1"
        prop()

Kinds: ``compare`` (function vs reference on the same inputs), ``compare_module`` (a class
built with the reference's weights, forward and backward), ``property`` / ``behaviour`` /
``statistical`` / ``quality`` (free-form code against ``Ctx``; one that passes may return a
short string, e.g. the accuracy a quality check reached, which the report shows), and
``banned`` (added for every exercise whose metadata bans APIs); each is one class in
``grader/kinds.py``. Points, hints, bans and timeouts are metadata
(``grader/course/course.toml``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.host.pool import StudentError, Worker, WorkerLost, preload_for
from grader.messages import Msg, msg
from grader.messages import scope as message_scope
from grader.protocol.values import CharEncoder, materialize
from grader.protocol.wire import Array

# --- tolerances ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tol:
    """``|got - want| <= atol * max(1, max|want|) + rtol * |want|`` elementwise."""

    rtol: float
    atol: float


# float64 inputs: different but correct orderings of sums (einsum vs matmul, -1e9 vs -inf
# masking) differ by ~1e-15; a float32 intermediate would show at ~1e-7; real mistakes are
# orders of magnitude larger.
F64 = Tol(rtol=1e-6, atol=1e-8)
# float32 inputs: accumulated rounding in blocks of a few layers stays below ~1e-5.
F32 = Tol(rtol=1e-4, atol=1e-5)


def tol_for(dtype: str) -> Tol:
    return F32 if dtype in ("float32", "float16") else F64


# --- inputs ----------------------------------------------------------------------------------


@dataclass
class Case:
    """One input: ``args``/``kwargs`` for the call (numpy arrays become tensors), ``init`` for
    a module's constructor, ``wrt`` the positions of float args to differentiate."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    init: dict | None = None
    init_args: tuple = ()
    wrt: tuple[int, ...] = ()
    label: str = ""
    dtype: str = "float64"  # module cases: the module is converted with .to(dtype) after __init__
    zeros: tuple[str, ...] = ()  # module cases: parameters set to 0 in the weights (to hit a kink exactly)


def noncontig(a: np.ndarray) -> dict:
    """The same values as a non-contiguous tensor (transposed storage)."""
    return {"$noncontig": a}


def generator(seed: int) -> dict:
    """A fresh ``torch.Generator`` seeded with ``seed``."""
    return {"$generator": int(seed)}


def char_encoder(vocab: dict[str, int]) -> dict:
    """A callable ``encode(text) -> list[int]`` (``CharEncoder``: longest match over ``vocab``,
    so markers are single tokens) for a function that takes one; the check side can build the
    same encoder with ``CharEncoder(vocab)``."""
    return {"$char_encoder": CharEncoder(vocab).vocab}


def linear(weight: np.ndarray, bias: np.ndarray | None = None) -> dict:
    """A fresh ``nn.Linear`` holding the given weight and bias."""
    return {"$linear": {"weight": weight, "bias": bias}}


def to_wire(v: Any) -> Any:
    """Check-side values to request values: numpy arrays travel as tensors."""
    if isinstance(v, np.ndarray):
        return Array(v, "tensor")
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if isinstance(v, Handle):
        return {"$ref": {"ref": v.name}}
    if isinstance(v, list):
        return [to_wire(x) for x in v]
    if isinstance(v, tuple):
        return tuple(to_wire(x) for x in v)
    if isinstance(v, dict):
        return {k: to_wire(x) for k, x in v.items()}
    return v


def to_torch(v: Any) -> Any:
    """Request values to what the reference takes (trusted side)."""
    return materialize(v, _torch_leaf)


def _torch_leaf(v: Any) -> Any:
    import torch

    if isinstance(v, Array):
        return torch.from_numpy(v.data.copy()) if v.kind == "tensor" else v.data
    return torch.from_numpy(np.array(v))


def from_torch(v: Any) -> Any:
    """Reference outputs to the plain values a worker would send."""
    import torch

    if isinstance(v, torch.Tensor):
        return Array(v.detach().cpu().contiguous().numpy().copy(), "tensor")
    if isinstance(v, (list, tuple)):
        return type(v)(from_torch(x) for x in v)
    if isinstance(v, dict):
        return {k: from_torch(x) for k, x in v.items()}
    return v


def describe_value(v: Any, name: str = "", depth: int = 0) -> str:
    """A value in the student's terms: tensors as dtype[shape] (and their values when there
    are few), modules as ``nn.Linear(4→8)``, containers item by item; never the wire's tags."""
    prefix = (name if name.endswith("=") else f"{name} ") if name else ""
    if isinstance(v, Array):
        v = v.data
    if isinstance(v, Handle):  # a student object in the worker: its type, never a memory address
        kind = v.info.get("type") if isinstance(v.info, dict) else None
        return f"{prefix}{kind or v.scope or 'object'} (yours)"
    if isinstance(v, np.ndarray):
        s = f"{prefix}{v.dtype}{list(v.shape)}"
        if v.size <= 6:
            s += " = " + np.array2string(v, precision=4, separator=", ").replace("\n", "")
        return s
    if isinstance(v, dict) and len(v) == 1 and isinstance(next(iter(v)), str) and next(iter(v)).startswith("$"):
        key, inner = next(iter(v.items()))
        if key == "$noncontig":
            return describe_value(inner, name, depth) + " (non-contiguous)"
        if key == "$param":
            return f"{prefix}nn.Parameter({describe_value(inner, depth=depth + 1)})"
        if key == "$generator":
            return f"{prefix}torch.Generator(seed={inner})"
        if key == "$dtype":
            return f"{prefix}torch.{inner}"
        if key == "$shape_log":
            return f"{prefix}ShapeLog()"
        if key == "$ref":
            return f"{prefix}<your object>"
        if key == "$linear" and isinstance(inner, dict):
            w = inner.get("weight")
            w = w.data if isinstance(w, Array) else np.asarray(w)
            out_f, in_f = (list(w.shape) + [0, 0])[:2] if w.ndim == 2 else (0, 0)
            bias = "" if inner.get("bias") is not None else ", bias=False"
            return f"{prefix}nn.Linear({in_f}→{out_f}{bias})"
        if key == "$char_encoder" and isinstance(inner, dict):
            return f"{prefix}encode (a character encoder, {len(inner)} tokens)"
    if isinstance(v, (list, tuple, dict)) and (len(v) > 6 or depth >= 2):
        return f"{prefix}{type(v).__name__} of {len(v)}"
    if isinstance(v, (list, tuple)) and any(isinstance(x, (Array, np.ndarray, dict, list, tuple)) for x in v):
        body = ", ".join(describe_value(x, depth=depth + 1) for x in v)
        return f"{prefix}" + (f"[{body}]" if isinstance(v, list) else f"({body}{',' if len(v) == 1 else ''})")
    if isinstance(v, dict) and any(isinstance(x, (Array, np.ndarray, dict, list, tuple)) for x in v.values()):
        return prefix + "{" + ", ".join(f"{k!r}: {describe_value(x, depth=depth + 1)}" for k, x in v.items()) + "}"
    return f"{prefix}{v!r}"[:120]


def describe_case(fn: str, case: Case) -> str:
    text = _describe_call(fn, case)
    if isinstance(case.label, Msg):  # the case's name, in the report's language
        return msg("case.labelled", label=case.label, text=text)
    return f"{case.label} — {text}" if case.label else text


def _describe_call(fn: str, case: Case) -> str:
    parts = [describe_value(a) for a in case.args]
    parts += [describe_value(v, f"{k}=") for k, v in case.kwargs.items()]
    head = fn
    if case.init is not None or case.init_args:
        init = [describe_value(a) for a in case.init_args] + [describe_value(v, f"{k}=")
                                                               for k, v in (case.init or {}).items()]
        head = f"{fn}({', '.join(init)})"
        return f"{head} on " + ", ".join(parts)
    return f"{head}(" + ", ".join(parts) + ")"


# --- failures ----------------------------------------------------------------------------------


@dataclass
class Failure:
    """Everything the report needs to explain one failed check."""

    message: str
    input: str = ""
    expected: str = ""
    got: str = ""
    error: str = ""  # max abs/rel error and where
    frames: list = field(default_factory=list)  # the student's own traceback frames
    not_implemented: bool = False
    diagnosis: str = ""  # a named mistake, when recognised
    diagnosis_zh: str = ""
    heatmap: dict | None = None  # {"expected": [[...]], "got": [[...]]} for attention-like outputs


def unfinished_elsewhere(err: StudentError, exercise: str) -> StudentError | None:
    """A ``NotImplementedError`` raised in another file of the submission (``DecoderBlock``
    calling an unfinished ``causal_mask`` of masking.py): the same error, not counted as this
    exercise's stub, saying where it was raised. ``None`` when this exercise's own file raised
    it, or when none of this exercise's code is on the stack (the check built the object)."""
    if not err.frames:
        return None
    fname, line, func, _code = err.frames[-1][:4]
    own = f"{exercise}.py"
    if fname == own or not any(f[0] == own for f in err.frames):
        # raised in this exercise's file, or in an object the check itself built from another
        # exercise (``ctx.new_from("models", ...)``): this exercise is not started either
        return None
    where = f"{func} (exercises/{fname}:{line})" if func != "<module>" else f"exercises/{fname}:{line}"
    return StudentError("NotImplementedError", msg("unfinished.elsewhere", where=where, exercise=exercise),
                        frames=list(err.frames), not_implemented=False)


class NotStarted(BaseException):  # noqa: N818 - a BaseException so hypothesis stops at once
    """The student's code raised NotImplementedError: the stub is not filled in yet."""

    def __init__(self, err: StudentError) -> None:
        super().__init__(str(err))
        self.err = err


class CheckFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


FAILURE_FIELDS = ("input", "expected", "got", "error", "frames", "not_implemented", "diagnosis", "diagnosis_zh",
                  "heatmap")


def failure(id: str | Msg, /, **kw: Any) -> Failure:
    """The failure whose message is ``id`` (a catalog entry, see grader/messages.py): keyword
    arguments named like a :class:`Failure` field fill that field, the rest are the message's."""
    fields = {k: kw.pop(k) for k in FAILURE_FIELDS if k in kw}
    return Failure(message=id if isinstance(id, Msg) else msg(id, **kw), **fields)


def fail(id: str | Msg, /, **kw: Any) -> None:
    """Fail the check with message ``id`` (see :func:`failure`)."""
    raise CheckFailed(failure(id, **kw))


def malformed(what: str, reply: Any) -> None:
    """A reply that is plain data but not of the agreed shape: the student's code (which
    runs in the worker and can change what it sends) broke the protocol, so the check fails."""
    fail("malformed.malformed_reply_what", what=what, reply=describe_value(reply)[:100])


def params_rows(rows: Any, what: str = "named_parameters()") -> list[tuple[str, tuple[int, ...], bool, int]]:
    """Validate a ``params`` reply: a list of [name, shape, requires_grad, identity]."""
    out = []
    if not isinstance(rows, list):
        malformed(what, rows)
    for row in rows:
        ok = (isinstance(row, (list, tuple)) and len(row) == 4 and isinstance(row[0], str)
              and isinstance(row[1], (list, tuple))
              and all(type(n) is int and n >= 0 for n in row[1])
              and isinstance(row[2], bool) and type(row[3]) is int)
        if not ok:
            malformed(what, row)
        out.append((row[0], tuple(row[1]), row[2], row[3]))
    return out


def _fmt_vals(a: np.ndarray, idx: tuple[int, ...] | None) -> str:
    if a.ndim == 0:
        return np.array2string(a, precision=4)
    row = a[idx[:-1]] if idx is not None and a.ndim >= 1 else a.reshape(-1)
    row = np.asarray(row).reshape(-1)
    where = f"[{', '.join(map(str, idx[:-1]))}]" if idx is not None and len(idx) > 1 else ""
    body = np.array2string(row[:6], precision=4, separator=", ", suppress_small=True)
    if row.size > 6:
        body = body[:-1] + ", …]"
    return f"{where} = {body}" if where else body


def compare_values(got: Any, want: Any, tol: Tol | None = None, path: str = "output") -> Failure | None:
    """Compare a reply with the expected value; ``None`` when they agree."""
    if isinstance(want, Array):
        if isinstance(got, dict) and "$unsendable" in got:
            return failure("compare_values.path_expected_torch", path=path, got_=got['$unsendable'])
        if not isinstance(got, Array):
            return failure("compare_values.path_expected_torch_2", path=path, shape=list(want.shape),
                           name=type(got).__name__, got_=describe_value(got)[:80])
        if got.kind != "tensor":
            return failure("compare_values.path_expected_torch_3", path=path)
        if got.shape != want.shape:
            return failure("compare_values.path_shape_shape", path=path, shape=list(got.shape), shape2=list(want.shape),
                           expected=f"shape {list(want.shape)}", got=f"shape {list(got.shape)}")
        w, g = want.data, got.data
        if w.dtype.kind == "f" and g.dtype != w.dtype:
            return failure("compare_values.path_dtype_dtype", path=path, dtype=g.dtype, dtype2=w.dtype,
                           expected=str(w.dtype), got=str(g.dtype))
        if w.dtype.kind != "f":
            if g.dtype.kind != w.dtype.kind and not (w.dtype.kind in "iu" and g.dtype.kind in "iu"):
                return failure("compare_values.path_dtype_dtype_2", path=path, dtype=g.dtype, dtype2=w.dtype,
                               expected=str(w.dtype), got=str(g.dtype))
            if not np.array_equal(g, w):
                bad = np.argwhere(g != w)
                idx = tuple(int(i) for i in bad[0]) if len(bad) else None
                return failure("compare_values.path_bad_size", path=path, bad=len(bad), size=w.size,
                               expected=_fmt_vals(w, idx), got=_fmt_vals(g, idx),
                               error=msg("compare_values.first_difference", path=path,
                                         index=", ".join(map(str, idx or ()))))
            return None
        tol = tol or tol_for(str(w.dtype))
        g64, w64 = g.astype(np.float64), w.astype(np.float64)
        finite_w = np.isfinite(w64)
        if not np.array_equal(np.isfinite(g64), finite_w) or not np.array_equal(
            np.isnan(g64), np.isnan(w64)
        ):
            bad = np.argwhere(np.isfinite(g64) != finite_w)
            idx = tuple(int(i) for i in bad[0]) if len(bad) else None
            return failure("compare_values.path_non_finite", path=path,
                           expected=_fmt_vals(w, idx), got=_fmt_vals(g, idx))
        diff = np.abs(np.where(finite_w, g64, 0.0) - np.where(finite_w, w64, 0.0))  # no inf - inf
        scale = max(1.0, float(np.max(np.abs(np.where(finite_w, w64, 0.0)), initial=0.0)))
        allowed = tol.atol * scale + tol.rtol * np.abs(np.where(finite_w, w64, 0.0))
        if np.all(diff <= allowed) and np.array_equal(g64[~finite_w], w64[~finite_w]):
            return None
        flat = int(np.argmax(diff - allowed))
        idx = tuple(int(i) for i in np.unravel_index(flat, w.shape)) if w.ndim else ()
        abs_err = float(diff.reshape(-1)[flat]) if diff.size else 0.0
        rel_err = abs_err / max(abs(float(w64.reshape(-1)[flat])), 1e-12) if w.size else 0.0
        where = f"{path}[{', '.join(map(str, idx))}]" if idx else path
        return failure(
            "compare_values.path_differs_reference", path=path,
            expected=_fmt_vals(w, idx), got=_fmt_vals(g, idx),
            error=msg("compare_values.max_error", abs_err=abs_err, rel_err=rel_err, where=where, atol=tol.atol,
                      rtol=tol.rtol),
        )
    if isinstance(want, (tuple, list)):
        if isinstance(got, dict) and "$unsendable" in got:
            return failure("compare_values.path_expected_name", path=path, name=type(want).__name__, want=len(want),
                           got_=got['$unsendable'])
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            n = len(got) if isinstance(got, (tuple, list)) else None
            return failure("compare_values.path_expected_values", path=path, name=type(want).__name__,
                           want=len(want), got_=f"{type(got).__name__} of {n}" if n is not None else type(got).__name__)
        for i, (g, w) in enumerate(zip(got, want)):
            f = compare_values(g, w, tol, f"{path}[{i}]")
            if f:
                return f
        return None
    if isinstance(want, dict):
        if isinstance(got, dict) and set(got) != set(want) and max(len(got), len(want)) > 8:
            missing, extra = _some(set(want) - set(got)), _some(set(got) - set(want))
            return failure("compare_values.path_expected_dict", path=path, want=len(want), got_=len(got),
                           missing=missing, extra=extra)
        if not isinstance(got, dict) or set(got) != set(want):
            return failure("compare_values.path_expected_keys", path=path, keys=sorted(want),
                           got_=str(sorted(got)) if isinstance(got, dict) else type(got).__name__)
        for k in want:
            f = compare_values(got[k], want[k], tol, f"{path}[{k!r}]")
            if f:
                return f
        return None
    if isinstance(want, float):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return failure("compare_values.path_expected_number", path=path, name=type(got).__name__)
        t = tol or F64
        if not (abs(got - want) <= t.atol * max(1.0, abs(want)) + t.rtol * abs(want)
                or (math.isnan(got) and math.isnan(want))):
            return failure("compare_values.path_r_expected", path=path, got_=got, want=want, expected=repr(want),
                           got=repr(got))
        return None
    if type(got) is not type(want) or got != want:
        return failure("compare_values.path_expected_want", path=path, got_=describe_value(got)[:80], want=want,
                       expected=repr(want)[:80], got=describe_value(got)[:80])
    return None


def _some(keys: set, n: int = 6) -> str:
    """A few of ``keys`` in order, for a message ("[3, 4, …]")."""
    shown = sorted(keys, key=lambda k: (type(k).__name__, k))[:n]
    return "[" + ", ".join(map(repr, shown)) + (", …]" if len(keys) > n else "]")


def changed_inputs(sent: Any, echoed: Any, name: str) -> str | None:
    """The first tensor argument (by name) that came back from a call with other values than
    it was sent with: the function modified it in place. Non-tensor arguments are skipped."""
    if isinstance(sent, dict) and len(sent) == 1 and "$noncontig" in sent:
        sent = sent["$noncontig"]
    if isinstance(sent, Array):
        if sent.kind != "tensor":
            return None
        new = echoed.data if isinstance(echoed, Array) else None
        old = sent.data
        if new is None or new.shape != old.shape or not np.array_equal(new, old, equal_nan=old.dtype.kind == "f"):
            return name
        return None
    if isinstance(sent, (list, tuple)):
        if not isinstance(echoed, (list, tuple)) or len(echoed) != len(sent):
            return None  # a container the worker could not send back: nothing to compare
        for i, (a, b) in enumerate(zip(sent, echoed)):
            bad = changed_inputs(a, b, f"{name}[{i}]")
            if bad:
                return bad
    return None


def _has_tensor(v: Any) -> bool:
    if isinstance(v, Array):
        return v.kind == "tensor"
    if isinstance(v, (list, tuple)):
        return any(_has_tensor(x) for x in v)
    if isinstance(v, dict):
        return len(v) == 1 and "$noncontig" in v
    return False


def check_unchanged(fn: str, args: list, kwargs: dict, reply: Any, input: str | Callable[[], str] = "") -> Any:
    """The result of an ``echo`` call, after failing the check if the call modified any of
    its tensor arguments in place."""
    if (not isinstance(reply, dict) or set(reply) != {"result", "args", "kwargs"}
            or not isinstance(reply["args"], list) or len(reply["args"]) != len(args)
            or not isinstance(reply["kwargs"], dict)):
        malformed(msg("check_unchanged.the_call", fn=fn), reply)
    names = [msg("check_unchanged.argument", i=i) for i in range(len(args))] + list(kwargs)
    sent = list(args) + [kwargs[k] for k in kwargs]
    back = list(reply["args"]) + [reply["kwargs"].get(k) for k in kwargs]
    for name, a, b in zip(names, sent, back):
        bad = changed_inputs(a, b, name)
        if bad:
            fail("check_unchanged.fn_modified_input", fn=fn, bad=bad,
                 input=input if isinstance(input, str) else input())
    return reply["result"]


def margin_text(m: dict, lang: str = "en") -> str:
    """A quality check's margin in words: "0.97 held-out accuracy (needs 0.80) in 6.8 s of 60 s"."""
    d = int(m.get("digits", 2))
    value, needed = f"{m['value']:.{d}f}", f"{m['needed']:.{d}f}"
    up = m.get("higher_is_better", True)
    if lang == "zh":
        return (f"{m.get('metric_zh') or m['metric']} {value}（要求{'不低于' if up else '不高于'} {needed}），"
                f"用时 {m['seconds']:.1f} 秒（限时 {m['budget']:g} 秒）")
    return (f"{value} {m['metric']} (needs {needed}{'' if up else ' or less'}) "
            f"in {m['seconds']:.1f} s of {m['budget']:g} s")


def plain(v: Any) -> Any:
    """Replies to numpy for property code: Arrays become arrays (must have been tensors)."""
    if isinstance(v, Array):
        if v.kind != "tensor":
            fail("plain.returned_numpy_array")
        return v.data
    if isinstance(v, dict):
        if "$unsendable" in v:
            fail("plain.returned_v_torch", v=v['$unsendable'])
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(plain(x) for x in v)
    return v


# --- the context a check runs in -----------------------------------------------------------


def budget_message(budget: float) -> str:
    return msg("budget.used_up", budget=budget)


class Handle:
    """A student object that lives in the worker (a module instance, a returned model)."""

    def __init__(self, ctx: Ctx, name: str, scope: str, info: Any = None) -> None:
        self.ctx, self.name, self.scope, self.info = ctx, name, scope, info

    def call(self, method: str = "forward", *args: Any, **kwargs: Any) -> Any:
        return plain(self.call_raw(method, *args, **kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call("forward", *args, **kwargs)

    def call_raw(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call a method; fail if it modified any of its tensor arguments in place."""
        wargs, wkwargs = to_wire(list(args)), to_wire(kwargs)
        self.ctx.record_call(f"{self.scope}.{method}", wargs, wkwargs)
        echo = _has_tensor(wargs) or _has_tensor(list(wkwargs.values()))
        reply = self.ctx.request({"op": "call", "target": {"ref": self.name, "attr": method},
                                  "args": wargs, "kwargs": wkwargs, "echo": echo,
                                  "banned": self.ctx.banned_for(self.scope)})
        if not echo:
            return reply
        return check_unchanged(f"{self.scope}.{method}", wargs, wkwargs, reply, self.ctx.lazy_input())

    def raises(self, exc_type: str, method: str, *args: Any, **kwargs: Any) -> None:
        """Fail unless ``method(*args, **kwargs)`` raises ``exc_type`` (e.g. "ValueError")."""
        try:
            self.call_raw(method, *args, **kwargs)
        except StudentError as err:
            if err.not_implemented:
                raise
            if not err.is_a(exc_type):
                fail("raises.scope_method_raised", scope=self.scope, method=method, type=err.type,
                     message_=err.message[:100], exc_type=exc_type,
                     frames=err.frames)
            return
        fail("raises.scope_method_accepted", scope=self.scope, method=method, exc_type=exc_type,
             input=describe_case(f"{self.scope}.{method}", Case(args=args, kwargs=kwargs)))

    def store(self, method: str, *args: Any, **kwargs: Any) -> Handle:
        """Call a method and keep its result in the worker as a new handle."""
        name = self.ctx.fresh()
        info = self.ctx.request({"op": "call", "target": {"ref": self.name, "attr": method},
                                 "args": to_wire(list(args)), "kwargs": to_wire(kwargs),
                                 "store": name, "banned": self.ctx.banned_for(self.scope)})
        return Handle(self.ctx, name, self.scope, info)

    def get(self, attr: str) -> Any:
        return plain(self.ctx.request({"op": "attr", "target": {"ref": self.name, "attr": attr}}))

    def sub(self, attr: str) -> Handle:
        name = self.ctx.fresh()
        info = self.ctx.request({"op": "attr", "target": {"ref": self.name, "attr": attr}, "store": name})
        return Handle(self.ctx, name, self.scope, info)

    def class_names(self) -> list[str]:
        """The qualnames of the object's class and of its bases (its MRO, without ``object``):
        a structure check asks whether ``"EncoderBlock"`` is among them, since a student's
        subclass of EncoderBlock (one that fixes activation="gelu") is an EncoderBlock."""
        names = [self.info.get("type")] if isinstance(self.info, dict) else []
        for i in range(1, 16):
            try:
                name = self.get(f"__class__.__mro__.{i}.__qualname__")
            except StudentError:  # past the end of the MRO
                break
            if not isinstance(name, str) or name == "object":
                break
            names.append(name)
        return names

    def same(self, attr: str, other: Handle, other_attr: str = "") -> bool:
        return self.ctx.request({"op": "same", "a": {"ref": self.name, "attr": attr},
                                 "b": {"ref": other.name, "attr": other_attr}}) is True

    def state_dict(self) -> dict[str, np.ndarray]:
        sd = self.ctx.request({"op": "state_dict", "target": {"ref": self.name}})
        if not isinstance(sd, dict):
            fail("state_dict.state_dict_return")
        return {k: plain(v) for k, v in sd.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        res = self.ctx.request({"op": "load_state_dict", "target": {"ref": self.name},
                                "state": {k: to_wire(v) for k, v in state.items()}})
        if isinstance(res, dict) and (res.get("missing") or res.get("unexpected")):
            fail("load_state_dict.module_s_parameter", value=res.get('missing'), value2=res.get('unexpected'))

    def params(self) -> list[tuple[str, tuple[int, ...], bool, int]]:
        """(name, shape, requires_grad, identity) of every parameter, shared ones repeated."""
        rows = self.ctx.request({"op": "params", "target": {"ref": self.name}})
        return params_rows(rows, f"{self.scope}.named_parameters()")

    def grad(self, method: str, args: tuple, kwargs: dict, wrt: Iterable[int], upstream: Any) -> dict:
        return self.ctx.request({"op": "grad", "target": {"ref": self.name, "attr": method},
                                 "args": to_wire(list(args)), "kwargs": to_wire(kwargs),
                                 "wrt": list(wrt), "upstream": to_wire(upstream),
                                 "banned": self.ctx.banned_for(self.scope)})


ORACLES = Path(__file__).resolve().parent / "course" / "oracles"


class Oracle:
    """A worker running one trusted oracle module (:meth:`Ctx.oracle`). Its errors are the
    library's answer to what the student's code returned (StudentError: type and message);
    so is its death (StudentError "OracleLost": what the student's data made the library do,
    e.g. exhaust its memory), never a death of the student's worker."""

    def __init__(self, ctx: Ctx, worker: Worker, module: str) -> None:
        self.ctx, self.worker, self.module = ctx, worker, module

    def request(self, req: dict) -> Any:
        timeout, _ = self.ctx.time_for(None)
        try:
            return self.worker.request(req, timeout)
        except WorkerLost as lost:
            raise StudentError("OracleLost", lost.message) from None

    def call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in the oracle; arrays come back as numpy."""
        return plain(self.request({"op": "call", "target": {"module": self.module, "attr": fn},
                                   "args": to_wire(list(args)), "kwargs": to_wire(kwargs), "banned": []}))


class Ctx:
    """What check code may use: the student's worker, the reference (official mode only),
    a seeded rng, hypothesis settings and helpers that turn mismatches into failures."""

    def __init__(self, exercise: str, check_id: str, worker: Worker, reference: Any | None,
                 seed: int, timeout: float, banned: dict[str, list[str]], max_examples: int = 30,
                 mode: str = "official") -> None:
        self.exercise, self.check_id, self.worker = exercise, check_id, worker
        self.ref = reference
        self.seed = seed
        self.timeout = timeout
        self.banned = banned
        self.max_examples = max_examples
        self.mode = mode
        self.rng = np.random.default_rng([seed, zlib.crc32(check_id.encode())])
        self.last_input = ""
        self.calls = 0
        self._names = 0
        self._global_seed: int | None = None
        self.margin: dict | None = None  # what a quality check reached (shown in every report)
        self.deadline: float | None = None  # the exercise's time budget ends then (monotonic clock)
        self.budget: float = 0.0
        self._drawn: Callable[[], str] | None = None  # the example a hypothesis property is running on

    # The input a failure shows. Inside a property it is described only when read: most
    # examples pass, and describing every one (numpy's array2string) cost more than the call.
    @property
    def last_input(self) -> str:
        value = self._last_input
        if not isinstance(value, str):
            value = self._last_input = value()
        return value

    @last_input.setter
    def last_input(self, value: str | Callable[[], str]) -> None:
        self._last_input = value

    def lazy_input(self) -> str | Callable[[], str]:
        """``last_input`` as it is now, still undescribed if it was."""
        return self._last_input

    def record_call(self, fn: str, args: list, kwargs: dict) -> None:
        """Inside a hypothesis property, the failing input is the drawn example and the call
        the property made with it, every argument described (``q float64[2, 3, 4], k ...``)."""
        if self._drawn is not None:
            drawn = self._drawn
            case = Case(args=tuple(args), kwargs=dict(kwargs))

            def describe() -> str:
                call, example = describe_case(fn, case), drawn()
                return f"{example} → {call}" if example else call

            self.last_input = Lazy(describe)

    def fresh(self) -> str:
        self._names += 1
        return f"{self.check_id}:{self._names}"

    def banned_for(self, scope: str) -> list[str]:
        return list(self.banned.get(scope, ()))

    def time_for(self, timeout: float | None) -> tuple[float, bool]:
        """(the time a call may take, whether the exercise's budget cut it); a budget already
        spent is a timeout."""
        timeout = timeout or self.timeout
        if self.deadline is None:
            return timeout, False
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise WorkerLost("timeout", budget_message(self.budget))
        return min(timeout, left), left < timeout

    def request(self, req: dict, timeout: float | None = None) -> Any:
        self.calls += 1
        req.setdefault("seed", (self.seed if self._global_seed is None else self._global_seed) % (2**31))
        timeout, clipped = self.time_for(timeout)
        try:
            return self.worker.request(req, timeout)
        except WorkerLost as lost:
            if clipped and lost.status == "timeout":
                lost.message = budget_message(self.budget)
            raise
        except StudentError as err:
            if err.not_implemented:
                other = unfinished_elsewhere(err, self.exercise)
                if other is not None:  # another exercise's (or helper's) stub: an error of this one
                    raise other from None
                raise NotStarted(err) from None  # no shrinking, no retries: the stub is untouched
            raise

    def call_raw(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` of the student's module; fail if it modified any of its tensor arguments
        in place (every call checks this)."""
        wargs, wkwargs = to_wire(list(args)), to_wire(kwargs)
        self.record_call(fn, wargs, wkwargs)
        echo = _has_tensor(wargs) or _has_tensor(list(wkwargs.values()))
        reply = self.request({"op": "call", "target": {"module": self.exercise, "attr": fn},
                              "args": wargs, "kwargs": wkwargs, "echo": echo,
                              "banned": self.banned_for(fn.split(".")[0])})
        if not echo:
            return reply
        return check_unchanged(fn, wargs, wkwargs, reply, self.lazy_input())

    @contextlib.contextmanager
    def global_seed(self, seed: int) -> Iterator[None]:
        """Calls made inside start from this torch global seed instead of the run's: code that
        should draw only from its own seeded generator must not notice."""
        old, self._global_seed = self._global_seed, int(seed)
        try:
            yield
        finally:
            self._global_seed = old

    @contextlib.contextmanager
    def torch_threads(self, n: int) -> Iterator[None]:
        """Calls made inside run with ``torch.set_num_threads(n)`` in the worker (1 after)."""
        self.request({"op": "call", "target": {"torch": "set_num_threads"}, "args": [int(n)], "kwargs": {}})
        try:
            yield
        finally:
            self.request({"op": "call", "target": {"torch": "set_num_threads"}, "args": [1], "kwargs": {}})

    @contextlib.contextmanager
    def oracle(self, name: str) -> Iterator[Oracle]:
        """A worker of its own running the trusted module ``grader/course/oracles/<name>.py``
        and nothing else, forked from the same zygote as the student's (so what that zygote
        imported, e.g. transformers, is shared, not imported again here): for libraries the
        grading process should not load, run on what the student's code returned. Closed
        when the block ends."""
        source = (ORACLES / f"{name}.py").read_bytes()
        module = f"oracle_{name}"
        files = {f"{module}.py": source}
        zygote = self.worker.zygote
        worker = zygote.spawn(files, self.worker.limits | {"preload": preload_for(files, f"{module}.py")})
        try:
            oracle = Oracle(self, worker, module)
            oracle.request({"op": "load", "module": module})
            yield oracle
        finally:
            worker.close()

    def call(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` of the student's module; arrays come back as numpy (checked tensors)."""
        return plain(self.call_raw(fn, *args, **kwargs))

    def new(self, cls: str, *args: Any, **kwargs: Any) -> Handle:
        """Construct ``cls(*args, **kwargs)`` from the student's module, kept in the worker."""
        name = self.fresh()
        info = self.request({"op": "call", "target": {"module": self.exercise, "attr": cls},
                             "args": to_wire(list(args)), "kwargs": to_wire(kwargs), "store": name,
                             "banned": self.banned_for(cls)})
        return Handle(self, name, cls, info)

    def new_from(self, module: str, cls: str, *args: Any, **kwargs: Any) -> Handle:
        """Construct ``cls`` from another module: a student exercise module by name
        (``"models"``), or a torch builtin with ``module="torch"`` (``cls="nn.Linear"``)."""
        name = self.fresh()
        target = {"torch": cls} if module == "torch" else {"module": module, "attr": cls}
        info = self.request({"op": "call", "target": target, "args": to_wire(list(args)),
                             "kwargs": to_wire(kwargs), "store": name,
                             "banned": [] if module == "torch" else self.banned_for(cls)})
        return Handle(self, name, cls, info)

    def store(self, fn: str, *args: Any, **kwargs: Any) -> Handle:
        """Call ``fn`` and keep its result in the worker (for functions returning modules)."""
        name = self.fresh()
        info = self.request({"op": "call", "target": {"module": self.exercise, "attr": fn},
                             "args": to_wire(list(args)), "kwargs": to_wire(kwargs), "store": name,
                             "banned": self.banned_for(fn)})
        return Handle(self, name, fn, info)

    def call_keep_inputs(self, fn: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` and fail if it modified any of its tensor arguments in place (what
        :meth:`call` does for every call; kept for the checks that say so by name)."""
        return self.call(fn, *args, **kwargs)

    def raises(self, exc_type: str, fn: str, *args: Any, **kwargs: Any) -> None:
        """Fail unless ``fn(*args, **kwargs)`` raises ``exc_type`` (e.g. "ValueError")."""
        try:
            self.call_raw(fn, *args, **kwargs)
        except StudentError as err:
            if err.not_implemented:
                raise
            if not err.is_a(exc_type):
                fail("raises.fn_raised_type", fn=fn, type=err.type, message_=err.message[:100], exc_type=exc_type,
                     frames=err.frames)
            return
        fail("raises.fn_accepted_invalid", fn=fn, exc_type=exc_type,
             input=describe_case(fn, Case(args=args, kwargs=kwargs)))

    def reached(self, value: float, needed: float, metric: str, metric_zh: str, seconds: float,
                budget: float, higher_is_better: bool = True, digits: int = 2) -> None:
        """Record what a quality check reached, passed or not: the report shows e.g. "0.97
        held-out accuracy (needs 0.80) in 6.8 s of 60 s"."""
        self.margin = {"metric": metric, "metric_zh": metric_zh, "value": float(value), "needed": float(needed),
                       "higher_is_better": bool(higher_is_better), "digits": int(digits),
                       "seconds": round(float(seconds), 3), "budget": float(budget)}

    # -- comparisons --

    def close(self, got: Any, want: Any, what: str = "output", tol: Tol | None = None,
              input: str = "") -> None:
        f = compare_values(got if not isinstance(got, np.ndarray) else Array(got),
                           want if not isinstance(want, np.ndarray) else Array(want), tol, what)
        if f:
            f.input = input or self.last_input
            raise CheckFailed(f)

    def given(self, *strategies: Any, max_examples: int | None = None, **kw: Any) -> Callable:
        """``hypothesis.given`` with this run's seed and settings; records the last input so
        the report can show the smallest failing example."""
        import hypothesis
        from hypothesis import HealthCheck, Phase, Verbosity, settings

        draws_from_seed_alone()
        n = max_examples or self.max_examples

        def wrap(fn: Callable) -> Callable:
            @functools.wraps(fn)
            def body(*args: Any, **kwargs: Any) -> None:
                self.last_input = self._drawn = Lazy(lambda: ", ".join(
                    [describe_value(a) for a in args] + [describe_value(v, f"{k}=") for k, v in kwargs.items()]
                ))
                try:
                    fn(*args, **kwargs)
                finally:
                    self._drawn = None

            test = hypothesis.given(*strategies, **kw)(body)
            test = settings(max_examples=n, deadline=None, database=None, derandomize=False,
                            print_blob=False, verbosity=Verbosity.quiet, report_multiple_bugs=False,
                            suppress_health_check=list(HealthCheck),
                            phases=[Phase.explicit, Phase.generate, Phase.shrink])(test)
            return hypothesis.seed(self.seed ^ zlib.crc32(self.check_id.encode()))(test)

        return wrap


def _no_local_constants() -> Any:
    return _NO_LOCAL_CONSTANTS


_NO_LOCAL_CONSTANTS: Any = None
_SHIPPED_LOCAL_CONSTANTS: Any = None  # hypothesis' own hook, kept for tests/test_draws.py


def draws_from_seed_alone() -> bool:
    """Make what hypothesis draws depend on the seed alone (idempotent; True once in effect).

    Hypothesis mixes into its draws constants it reads from the source of every *local*
    module in ``sys.modules`` (not site-packages, not tests): its provider's pool grows as
    modules are imported. In the grading process that pool would hold the grader's own
    modules (in a checkout or an editable install, not from a wheel), the reference modules
    and the known mistakes loaded so far, which depend on the exercises selected and, with
    ``--jobs 2``, on which thread got there first. The same seed then drew other inputs:
    ``grade attention`` and ``grade`` could test attention on different examples. The pool is
    kept empty instead (hypothesis' own global constants, 0, inf, boundaries, are still
    drawn). tests/test_draws.py fails if a hypothesis release moves this hook."""
    global _NO_LOCAL_CONSTANTS, _SHIPPED_LOCAL_CONSTANTS
    from hypothesis.internal.conjecture import providers

    if getattr(providers, "_get_local_constants", None) is _no_local_constants:
        return True
    pool = getattr(providers, "_local_constants", None)
    if pool is None or not hasattr(providers, "CONSTANTS_CACHE"):
        return False
    _NO_LOCAL_CONSTANTS = type(pool)()  # hypothesis' Constants, every set empty
    _SHIPPED_LOCAL_CONSTANTS = providers._get_local_constants
    providers._get_local_constants = _no_local_constants
    providers.CONSTANTS_CACHE.cache.clear()  # permitted constants cached from the pool as it was
    return True


# --- the registry ---------------------------------------------------------------------------


@dataclass
class Check:
    id: str
    title: str
    kind: str  # the kind's name; what the kind does is its class in grader/kinds.py
    uses: tuple[str, ...]
    run: Callable[[Ctx], None] | None = None
    fn: str = ""  # compare checks: the function or class
    cases: Callable[[np.random.Generator], Iterable[Case]] | None = None
    method: str = "forward"
    backward: bool = False
    tol: Tol | None = None
    fixed: int = 0  # how many fixed (snapshot) cases; 0 = all the function yields
    staged: bool = False  # cases are stages (simplest first): report the first stage that fails
    timeout: float | None = None
    title_zh: str = ""
    points: int | None = None  # what passing it is worth (None: not given, which grade check reports)


class Lazy:
    """A description made on first use, then kept (the values it describes are the drawn
    example's: a property does not change its inputs once it has called the student's code)."""

    __slots__ = ("make", "text")

    def __init__(self, make: Callable[[], str]) -> None:
        self.make, self.text = make, None

    def __call__(self) -> str:
        if self.text is None:
            self.text = self.make()
        return self.text


def _scoped(exercise: str, fn: Callable) -> Callable:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with message_scope(exercise):
            return fn(*args, **kwargs)

    return run


class Checks:
    """The ordered checks of one exercise."""

    def __init__(self, exercise: str) -> None:
        self.exercise = exercise
        self.items: list[Check] = []

    def _add(self, check: Check) -> Check:
        if any(c.id == check.id for c in self.items):
            raise ValueError(f"duplicate check id {check.id}")
        # the check's messages are looked up in this exercise's catalog, wherever it runs
        if check.run is not None:
            check.run = _scoped(self.exercise, check.run)
        if check.cases is not None:
            cases = check.cases
            check.cases = _scoped(self.exercise, lambda rng: list(cases(rng)))
        self.items.append(check)
        return check

    def compare(self, id: str, title: str, fn: str, tol: Tol | None = None,
                timeout: float | None = None, zh: str = "", staged: bool = False,
                points: int | None = None, backward: bool = True) -> Callable:
        """``fn`` called on each case must match the reference (snapshot in local mode) and,
        with ``backward`` and a differentiable reference, so must its gradients (off for a
        function whose gradient the contract leaves open). With ``staged``, the cases are
        stages from simplest to fullest (their ``label`` names the stage) and the report names
        the first stage that fails."""

        def deco(cases: Callable) -> Callable:
            self._add(Check(id, title, "compare", (fn,), fn=fn, cases=cases, tol=tol,
                            timeout=timeout, title_zh=zh, staged=staged, points=points,
                            backward=backward))
            return cases

        return deco

    def compare_module(self, id: str, title: str, cls: str, method: str = "forward",
                       backward: bool = True, tol: Tol | None = None, uses: tuple[str, ...] = (),
                       timeout: float | None = None, zh: str = "", points: int | None = None) -> Callable:
        """``cls(*case.init_args, **case.init)`` loaded with the reference's state_dict must
        give the same ``method`` output (and, with ``backward``, the same gradients for the
        inputs at ``case.wrt`` and every parameter, for a random upstream gradient)."""

        def deco(cases: Callable) -> Callable:
            self._add(Check(id, title, "compare_module", (cls, *uses), fn=cls, cases=cases,
                            method=method, backward=backward, tol=tol, timeout=timeout, title_zh=zh,
                            points=points))
            return cases

        return deco

    def _free(self, kind: str, id: str, title: str, uses: tuple[str, ...],
              timeout: float | None, zh: str, points: int | None) -> Callable:
        def deco(run: Callable[[Ctx], None]) -> Callable:
            self._add(Check(id, title, kind, tuple(uses), run=run, timeout=timeout, title_zh=zh, points=points))
            return run

        return deco

    def property(self, id: str, title: str, uses: tuple[str, ...], timeout: float | None = None,
                 zh: str = "", points: int | None = None) -> Callable:
        return self._free("property", id, title, uses, timeout, zh, points)

    def behaviour(self, id: str, title: str, uses: tuple[str, ...], timeout: float | None = None,
                  zh: str = "", points: int | None = None) -> Callable:
        return self._free("behaviour", id, title, uses, timeout, zh, points)

    def statistical(self, id: str, title: str, uses: tuple[str, ...], timeout: float | None = None,
                    zh: str = "", points: int | None = None) -> Callable:
        return self._free("statistical", id, title, uses, timeout, zh, points)

    def quality(self, id: str, title: str, uses: tuple[str, ...], timeout: float | None = None,
                zh: str = "", points: int | None = None) -> Callable:
        return self._free("quality", id, title, uses, timeout, zh, points)

    def __iter__(self) -> Iterator[Check]:
        return iter(self.items)


def expect_array(v: Any, shape: tuple[int, ...] | None = None, dtype: Any = None,
                 what: str = "output") -> np.ndarray:
    """Validate a reply from ``ctx.call`` (already plain numpy) and return it."""
    if not isinstance(v, np.ndarray):
        fail("expect_array.what_expected_torch", what=what, name=type(v).__name__, v=describe_value(v)[:60])
    if shape is not None and tuple(v.shape) != tuple(shape):
        fail("expect_array.what_shape_shape", what=what, shape=list(v.shape), shape2=list(shape),
             expected=f"shape {list(shape)}", got=f"shape {list(v.shape)}")
    if dtype is not None and v.dtype != np.dtype(dtype):
        fail("expect_array.what_dtype_dtype", what=what, dtype=v.dtype, dtype2=np.dtype(dtype),
             expected=str(np.dtype(dtype)), got=str(v.dtype))
    return v
