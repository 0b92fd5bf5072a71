"""What runs student code: the student side of the trust boundary.

``python -m grader.worker FD`` starts a *zygote*: it imports torch once (one thread), then
waits on the control socket ``FD``. For every exercise the trusted side asks it to fork a
fresh *worker*; the worker's end of a new socket pair is handed back with ``SCM_RIGHTS``.
A worker starts its own session, sets its resource limits, points stdout/stderr at a capped
file and stdin at /dev/null, loads the submission's modules by path and answers requests.

This module imports nothing from the trusted side but the wire: no checks, no reference.
Everything it sends is plain data (``grader.protocol.wire``); the trusted side validates all of it.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import functools
import gc
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from grader.protocol import wire
from grader.protocol.bans import lands
from grader.protocol.values import materialize
from grader.worker import lazy_dynamo
from grader.worker.loader import SubmissionLoader
from grader.worker.preload import preload
from grader.worker.procs import kill_descendants, reap, set_subreaper

MAX_REPLY = 256 << 20


# --- the zygote --------------------------------------------------------------------------


def _prepare_torch() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    # Warm the kernels every exercise uses, so that each fork starts hot.
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    y = (x @ x.transpose(-2, -1)).softmax(-1).sum()
    y.backward()
    lin = torch.nn.Linear(5, 5)
    lin(torch.randn(2, 5)).sum().backward()
    torch.nn.functional.layer_norm(torch.randn(2, 5), (5,))
    # the run-time banned-API watch (a torch-function mode): imported and run once here
    with _ban_watch()(set(), set(), []):
        (x.detach() * 2).softmax(-1).sum()
    lazy_dynamo.install()  # optimizers then run without importing torch._dynamo (~1 s)


def zygote_main(ctl_fd: int, flags: list[str]) -> None:
    set_subreaper()
    # With --confine (inside bubblewrap) the zygote keeps root *inside the sandbox* and each
    # worker gives it up for a uid of its own: workers can signal neither the zygote nor each
    # other, and the process cap counts each worker alone.
    confine = "--confine" in flags
    os.umask(0o077)
    if confine or "--seccomp" in flags:
        from grader.worker.confine import install_seccomp

        install_seccomp()
    _prepare_torch()
    ctl = socket.socket(fileno=ctl_fd)
    ctl_file = ctl.makefile("rwb")
    wire.send(ctl_file, {"ready": True, "pid": os.getpid()})
    _serve(ctl, ctl_file, confine)


def _serve(ctl: socket.socket, ctl_file: Any, confine: bool) -> None:
    """The zygote loop: fork a worker, or a *branch*, per request; kill one; quit. Never
    returns. A branch is a zygote forked from this one that imports a preload (peft, torch's
    _dynamo: seconds) and then forks the workers that need it, while this one goes on forking
    the workers that do not: nobody waits behind an import they do not use."""
    workers: set[int] = set()  # workers and branches: what a kill's sweep keeps
    scratches: dict[int, str] = {}
    while True:
        try:
            req = wire.recv(ctl_file)
        except (EOFError, OSError, wire.WireError):
            break
        op = req.get("op") if isinstance(req, dict) else None
        if op in ("spawn", "branch"):
            if op == "spawn":
                preload(req.get("preload"), str(req.get("scratch") or ""))
            gc.freeze()  # what the zygote holds stays shared: a child's collections never write to it
            parent_end, child_end = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # the worker, or the branch
                code = 0
                try:
                    ctl_file.close()
                    ctl.close()
                    parent_end.close()
                    if op == "branch":
                        _branch_start(child_end, req, confine)
                    else:
                        uid = req.get("uid") if confine else None
                        _worker_start(child_end, req, uid if isinstance(uid, int) and uid > 0 else None)
                except BaseException as exc:  # noqa: BLE001 - the child must never return into the zygote
                    code = 70
                    with contextlib.suppress(BaseException):
                        os.write(2, f"{op} start failed: {type(exc).__name__}: {exc}\n".encode()[:2000])
                finally:
                    os._exit(code)
            child_end.close()
            workers.add(pid)
            if op == "spawn":
                scratches[pid] = str(req.get("scratch") or "")
            socket.send_fds(ctl, [struct.pack("<q", pid)], [parent_end.fileno()])
            parent_end.close()
        elif op == "kill":
            pid = int(req["pid"])
            status = _kill_and_reap(pid)
            workers.discard(pid)
            kill_descendants(os.getpid(), keep=workers)
            reap()
            _remove(scratches.pop(pid, ""))
            wire.send(ctl_file, {"pid": pid, "status": status})
        elif op == "quit":
            break
    for pid in list(workers):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    kill_descendants(os.getpid())
    reap()
    for path in scratches.values():
        _remove(path)
    os._exit(0)  # skip interpreter teardown (torch's is slow); nothing is left to flush


def _branch_start(ctl: socket.socket, req: dict, confine: bool) -> None:
    """A branch: its own process group and subreaper, dies with the zygote that forked it,
    imports its preload, then serves its own control socket."""
    os.setsid()
    set_subreaper()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent zygote
    preload(req.get("preload"), str(req.get("scratch") or ""))
    gc.freeze()
    _serve(ctl, ctl.makefile("rwb"), confine)


def _kill_and_reap(pid: int) -> int | None:
    """Kill a worker and its process group; return its wait status (None if unknown)."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if done == 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return None
    return status


def _remove(path: str) -> None:
    """Remove a worker's scratch folder (after the worker is gone)."""
    import shutil

    if path and os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)


# --- a worker ----------------------------------------------------------------------------


def _set_limits(req: dict) -> None:
    try:
        import resource
    except ImportError:  # not on this OS: the timeouts and the process boundary still hold
        return

    def cap(kind: int, soft: int) -> None:
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
            resource.setrlimit(kind, (soft, hard if hard != resource.RLIM_INFINITY else soft))

    mem = int(req.get("memory", 2 << 30))
    if mem > 0:
        # The address-space cap counts what torch already mapped; add the budget on top.
        cap(resource.RLIMIT_AS, _vm_size() + mem)
    cap(resource.RLIMIT_CPU, int(req.get("cpu_seconds", 600)))
    cap(resource.RLIMIT_FSIZE, int(req.get("file_size", 64 << 20)))
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NOFILE, 256)
    if hasattr(resource, "RLIMIT_NPROC"):
        cap(resource.RLIMIT_NPROC, int(req.get("processes", 64)))


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _worker_start(sock: socket.socket, req: dict, uid: int | None) -> None:
    os.setsid()
    scratch = req.get("scratch")
    if scratch:  # private: made by the zygote, owned by the worker's uid, closed to others
        os.mkdir(scratch, 0o700)
        if uid is not None:
            os.chown(scratch, uid, uid)
    if uid is not None:
        from grader.worker.confine import drop_privileges

        if not drop_privileges(uid, uid):
            raise SystemExit(71)
    if scratch:
        import tempfile

        os.environ["TMPDIR"] = os.environ["HOME"] = scratch
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(scratch, ".torch")
        tempfile.tempdir = None  # computed again from TMPDIR
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the zygote
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    out = os.open(req["output"], os.O_WRONLY | os.O_TRUNC)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
    if scratch:
        os.chdir(scratch)
    for key in list(os.environ):
        if key.startswith(("GRADER_", "GITHUB_TOKEN", "CI_JOB_TOKEN")):
            del os.environ[key]
    _set_limits(req)
    Server(sock, req["submission"]).serve()


class BannedAPIError(RuntimeError):
    """Raised inside student code when it calls an API its exercise must implement itself."""


def _malloc_trim() -> Any:
    """glibc's malloc_trim (a no-op elsewhere): freed memory goes back to the system, so a
    worker that trained a model does not keep its peak for the rest of the exercise."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return lambda _pad: 0


_TRIM = _malloc_trim()  # looked up in the zygote: a confined worker may not open libraries


class Server:
    """Answers the trusted side's requests, one at a time, inside a worker."""

    def __init__(self, sock: socket.socket, submission: str) -> None:
        import torch

        self.torch = torch
        self.sock = sock
        self.stream = sock.makefile("rwb")
        self.loader = SubmissionLoader(submission)
        self.objects: dict[str, Any] = {}
        # Kept before any student code runs, so a patched builtin cannot change replies.
        self._send = wire.send
        self._isinstance = builtins.isinstance
        self._hits: list[str] = []
        self._trim = _TRIM
        self._clock = time.monotonic

    def serve(self) -> None:
        while True:
            try:
                req = wire.recv(self.stream)
            except (EOFError, OSError):
                return
            t0 = self._clock()
            reply = self.handle(req)
            try:
                self._send(self.stream, reply)
            except wire.WireError as exc:
                self._send(self.stream, {"ok": False, "error": _plain_error("WireError", str(exc))})
            if self._clock() - t0 > 0.05:  # a long call (training) leaves freed heap behind: give it back
                self._trim(0)

    def handle(self, req: dict) -> dict:
        op = req.get("op")
        try:
            if op == "ping":
                return {"ok": True, "value": "pong"}
            if op == "load":
                self.loader.load(req["module"])
                return {"ok": True, "value": None}
            if op == "call":
                return self._call(req)
            if op == "grad":
                return self._grad(req)
            if op == "attr":
                value = self._resolve(req["target"])
                return self._reply(value, req.get("store"))
            if op == "same":
                a = self._resolve(req["a"])
                b = self._resolve(req["b"])
                return {"ok": True, "value": a is b}
            if op == "state_dict":
                sd = self._resolve(req["target"]).state_dict()
                return {"ok": True, "value": {k: v for k, v in sd.items()}}
            if op == "load_state_dict":
                module = self._resolve(req["target"])
                state = {k: self.torch.from_numpy(v.data) if isinstance(v, wire.Array) else v
                         for k, v in req["state"].items()}
                result = module.load_state_dict(state, strict=bool(req.get("strict", True)))
                return {"ok": True, "value": {"missing": list(result.missing_keys),
                                              "unexpected": list(result.unexpected_keys)}}
            if op == "params":
                module = self._resolve(req["target"])
                params = [
                    [name, list(p.shape), bool(p.requires_grad), id(p)]
                    for name, p in module.named_parameters(remove_duplicate=False)
                ]
                return {"ok": True, "value": params}
            if op == "free":
                self.objects.pop(req["name"], None)
                return {"ok": True, "value": None}
            return {"ok": False, "error": _plain_error("GraderError", f"unknown op {op!r}")}
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            if self._isinstance(exc, KeyboardInterrupt):
                raise
            return {"ok": False, "error": self.loader.describe(exc)}

    # -- argument and result conversion --

    def _tensor(self, v: Any) -> Any:
        if isinstance(v, wire.Array):
            if v.kind == "ndarray":
                return v.data
            return self.torch.from_numpy(v.data)
        return v

    def _arg(self, v: Any) -> Any:
        return materialize(v, self._tensor, {"$ref": self._resolve})

    def _resolve(self, target: dict) -> Any:
        """``{"module": m, "attr": "a.b"}``, ``{"ref": name, "attr": "a.b"}``, ``{"torch": "nn.X"}``
        or ``{"worker": "chat", "attr": "Session"}`` (a module of grader.worker)."""
        if "ref" in target:
            obj = self.objects[target["ref"]]
        elif "torch" in target:  # a torch builtin, e.g. "nn.Linear" (named by the trusted side)
            obj = _import_path("torch." + str(target["torch"]))
        elif "worker" in target:  # a worker-side session module, e.g. "chat" (named by the trusted side)
            name = str(target["worker"])
            if not name.isidentifier():
                raise ImportError(f"bad worker module name {name!r}")
            import importlib

            obj = importlib.import_module("grader.worker." + name)
        else:
            obj = self.loader.module(target["module"])
        for part in filter(None, str(target.get("attr", "")).split(".")):
            obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
        return obj

    def _reply(self, value: Any, store: str | None) -> dict:
        if store:
            self.objects[store] = value
            return {"ok": True, "value": {"type": type(value).__qualname__,
                                          "module": isinstance(value, self.torch.nn.Module)}}
        return {"ok": True, "value": self._plain(value)}

    def _plain(self, v: Any, depth: int = 0) -> Any:
        """Result tree to wire values; unknown objects become a description (a failed check)."""
        torch = self.torch
        if depth > 16:
            raise wire.WireError("result nested too deeply")
        if type(v) is torch.Size:
            return {"$unsendable": "torch.Size", "value": list(v)}
        if isinstance(v, torch.Tensor):
            if type(v) is not torch.Tensor and not isinstance(v, torch.nn.Parameter):
                return {"$unsendable": f"tensor subclass {type(v).__qualname__}"}
            return v
        if isinstance(v, (list, tuple)):  # a namedtuple (torch.return_types too) as a plain tuple
            return (list if isinstance(v, list) else tuple)(self._plain(x, depth + 1) for x in v)
        if isinstance(v, dict):  # OrderedDict, Counter too; str and int keys as they are, others as str()
            return {k if type(k) in (str, int) else str(k): self._plain(x, depth + 1) for k, x in v.items()}
        if v is None or type(v) in (bool, int, float, str, bytes) or type(v).__module__ == "numpy":
            return v
        for kind, plain in ((int, int.__int__), (float, float.__float__), (str, str.__str__), (bytes, bytes)):
            if isinstance(v, kind):  # a subclass (an IntEnum, a str Enum) as its plain value
                return plain(v)
        return {"$unsendable": f"{type(v).__module__}.{type(v).__qualname__}"}

    # -- calls --

    @contextlib.contextmanager
    def _banned(self, names: list[str]):
        """For the duration of a call: replace each banned API by a function that raises, and
        watch every torch call it makes, where every alias of a banned API lands
        (``grader.protocol.bans``). A hit fails the call even if
        the student's code catches the error."""
        saved = []
        for dotted in names:
            owner_name, _, attr = dotted.rpartition(".")
            try:
                owner = _import_path(owner_name)
                original = getattr(owner, attr)
            except (ImportError, AttributeError):
                continue

            def blocked(*_a: Any, _name: str = dotted, **_k: Any) -> Any:
                self._hits.append(_name)
                raise BannedAPIError(f"{_name} is not allowed here: implement it yourself")

            with contextlib.suppress(AttributeError, TypeError):
                setattr(owner, attr, blocked)
                saved.append((owner, attr, original))
        self._hits = []
        try:
            with contextlib.ExitStack() as stack:
                if names:
                    stack.enter_context(_ban_watch()(*lands(names), self._hits))
                yield
        finally:
            for owner, attr, original in reversed(saved):
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(owner, attr, original)
        if self._hits:
            raise BannedAPIError(f"{self._hits[0]} is not allowed here: implement it yourself")

    def _invoke(self, req: dict) -> tuple[Any, list, dict]:
        fn = self._resolve(req["target"])
        args = self._arg(req.get("args", []))
        kwargs = self._arg(req.get("kwargs", {}))
        self.torch.default_generator.manual_seed(int(req.get("seed", 0)))  # = torch.manual_seed on CPU
        with self._banned(req.get("banned", [])):
            return fn(*args, **kwargs), args, kwargs

    def _call(self, req: dict) -> dict:
        value, args, kwargs = self._invoke(req)
        if req.get("echo"):  # the arguments as they are after the call (in-place changes show)
            return {"ok": True, "value": {"result": self._plain(value), "args": self._plain(list(args)),
                                          "kwargs": self._plain(kwargs)}}
        return self._reply(value, req.get("store"))

    def _grad(self, req: dict) -> dict:
        """Forward with some float arguments as leaves, backward with a given upstream grad."""
        torch = self.torch
        wrt = [int(i) for i in req.get("wrt", [])]
        args = list(req.get("args", []))
        target = req["target"]  # the method's owner carries the parameters
        owner = self._resolve(target | {"attr": str(target.get("attr", "")).rpartition(".")[0]})
        leaves = []
        for i in wrt:
            t = self._arg(args[i]).detach().clone()  # a leaf (non-contiguous inputs arrive contiguous)
            leaves.append(t.requires_grad_(True))
        fn = self._resolve(req["target"])
        call_args = self._arg(args)
        for i, t in zip(wrt, leaves):
            call_args[i] = t
        kwargs = self._arg(req.get("kwargs", {}))
        # a tied weight under each of its names (the first name depends on registration order)
        params = dict(owner.named_parameters(remove_duplicate=False)) if isinstance(owner, torch.nn.Module) else {}
        for p in params.values():
            p.grad = None
        torch.default_generator.manual_seed(int(req.get("seed", 0)))
        with self._banned(req.get("banned", [])):
            out = fn(*call_args, **kwargs)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            ups = req["upstream"] if isinstance(req["upstream"], (tuple, list)) else (req["upstream"],)
            pairs = [(o, self._tensor(u)) for o, u in zip(outs, ups) if u is not None]
            if not all(isinstance(o, torch.Tensor) and o.requires_grad for o, _ in pairs):
                raise TypeError("the output does not depend on the inputs through autograd "
                                "(was it detached, or built from .numpy()/.item()?)")
            # one scalar: sum of <output, upstream> (torch.autograd.backward on lists pulls in sympy)
            sum((o * u.to(o.dtype)).sum() for o, u in pairs).backward()
        grads = {
            "out": self._plain(out),
            "inputs": [t.grad for t in leaves],
            "params": {n: p.grad for n, p in params.items() if p.requires_grad},
        }
        return {"ok": True, "value": grads}


@functools.lru_cache(maxsize=1)
def _ban_watch() -> type:
    """A torch-function mode that sees every torch call the scoped code makes, under its
    function name or, for ``torch.ops.aten.*``, its operator name (``_softmax.default``), and
    fails the call on a banned one. (A dispatcher-level mode sees the same operators at ~60x
    the cost per call.) Built once per process: torch is imported by then."""
    from fnmatch import fnmatchcase

    from torch.overrides import TorchFunctionMode

    class BanWatch(TorchFunctionMode):
        def __init__(self, fns: set[str], ops: set[str], hits: list[str]) -> None:
            super().__init__()
            self.names = fns | {p for p in ops if "*" not in p}
            self.patterns = [p for p in ops if "*" in p]
            self.hits = hits

        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = str(getattr(func, "__name__", "")).split(".")[0]
            if name in self.names or any(fnmatchcase(name, p) for p in self.patterns):
                self.hits.append(f"torch {name}")
                raise BannedAPIError(f"{name} is not allowed here: implement it yourself")
            return func(*args, **(kwargs or {}))

    return BanWatch


def _import_path(dotted: str) -> Any:
    import importlib

    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def _plain_error(kind: str, message: str) -> dict:
    return {"type": kind, "message": message, "frames": [], "not_implemented": False}


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    zygote_main(int(args[0]), args[1:])


if __name__ == "__main__":
    main()
