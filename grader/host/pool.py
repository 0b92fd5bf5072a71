"""Trusted side of the process boundary: start the zygote, get workers, talk to them.

Every reply is decoded with ``grader.protocol.wire`` (plain data only) and checked for form; a worker
that dies, hangs or answers nonsense becomes ``WorkerLost`` (a ``BaseException``, so no
check code and no hypothesis run can swallow it).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.host.sandbox import Sandbox
from grader.host.staging import private_dir, remove_tree, sweep_uid, write_stage
from grader.messages import msg
from grader.protocol import wire
from grader.protocol.preloads import HUGGING_FACE
from grader.worker.procs import kill_descendants, set_subreaper

MAX_OUTPUT_TAIL = 4000


class WorkerLost(BaseException):  # noqa: N818 - it is not an error of the check, by design
    """The worker died, hung or broke the protocol; ``status`` is timeout/crashed/error."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GraderError(RuntimeError):
    """Something on the trusted side went wrong: never the student's fault."""


@dataclass
class StudentError(Exception):
    """Student code raised: the plain description the worker sent."""

    type: str
    message: str
    frames: list = field(default_factory=list)
    not_implemented: bool = False
    kinds: tuple[str, ...] = ()  # the built-in exception classes it derives from

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"

    def is_a(self, kind: str) -> bool:
        """Whether it is a ``kind`` (a built-in exception's name) or derives from one."""
        return self.type == kind or kind in self.kinds


class _Channel:
    """The control socket of a zygote or of one of its branches, one request at a time."""

    def __init__(self, sock: socket.socket, pid: int | None = None, lock: Any = None) -> None:
        self.ctl = sock
        self.ctl_file = sock.makefile("rwb")
        self.pid = pid
        self.lock = lock or threading.RLock()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ctl_file.close()
            self.ctl.close()


class Zygote:
    """A pre-loaded process (torch imported once) that forks one fresh worker per request.

    Its run folder holds the worker-side packages and, per worker, a stage (that worker's
    copy of the submission) and an output file, each readable by that worker's uid only when
    the sandbox gives workers uids of their own. ``trusted=True`` makes a zygote for the
    reference side (known mistakes): never sandboxed with student workers, its folder closed
    to everyone else, and each stage removed as soon as its modules are imported.

    With ``branches``, a worker that needs a preload (``preload_for``: peft) is forked by a
    *branch*: a zygote forked from this one that imports the preload once, while this one
    goes on forking the workers that need none.
    Without, this zygote imports the preload itself before forking that worker."""

    live: set[int] = set()  # zygotes of this process still in use

    def __init__(self, sandbox: Sandbox, start_timeout: float = 120.0, trusted: bool = False,
                 fork: bool = False, branches: bool = False) -> None:
        set_subreaper()
        self.sandbox = sandbox
        self.trusted = trusted
        # a trusted zygote may be forked from this process instead of started afresh (see _fork)
        self._fork = fork and trusted and sandbox.level == "process" and hasattr(os, "fork")
        self.tmp = private_dir("grader-mistakes-" if trusted else "grader-run-",
                               0o711 if sandbox.separate_uids and not trusted else 0o700)
        self.start_timeout = start_timeout
        self.counter = 0
        self.restarts = 0
        self.lock = threading.RLock()
        self.closed = False
        # branches pay off when exercises are graded at once (--jobs 2+); one at a time, they
        # would only hold their parent's pages twice (~90 MiB at Gradescope's --jobs 1)
        self.branching = branches
        self._branches: dict[tuple[str, ...], _Channel] = {}
        self._owner: dict[int, _Channel] = {}  # which zygote or branch forked each worker
        # Locks, always taken in this order: _making (one branch made at a time), a branch's
        # lock (one request at a time on its socket), self.lock (the bookkeeping and the
        # zygote's own socket, whose replies never wait for an import)
        self._making = threading.RLock()
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        sandbox = self.sandbox
        lib = self.tmp / "lib"
        if not lib.exists():
            lib = sandbox.install_worker(self.tmp)
        env = sandbox.environment(sandbox.inside(lib, self.tmp))
        if self._fork:
            self._fork = False  # once: a restart (a dead zygote) starts a fresh process
            self.proc: Any = _forked_zygote(theirs, sandbox.worker_flags(), env, self.tmp / "zygote.err")
        else:
            cmd = sandbox.command([sys.executable, "-m", "grader.worker", str(theirs.fileno()),
                                   *sandbox.worker_flags()], self.tmp)
            with open(self.tmp / "zygote.err", "wb") as err_file:
                self.proc = subprocess.Popen(
                    cmd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=err_file, env=env, start_new_session=True, cwd="/",
                )
        theirs.close()
        Zygote.live.add(self.proc.pid)
        self.root = _Channel(ours, lock=self.lock)  # the zygote's own socket, under the zygote's lock
        self._ready = False

    def _restart_if_dead(self) -> None:
        """A submission may kill its zygote (its parent): start a fresh one, a few times."""
        if self.proc.poll() is None:
            return
        if self.restarts >= 20:
            raise GraderError("the worker factory keeps dying")
        self.restarts += 1
        Zygote.live.discard(self.proc.pid)
        kill_descendants(self.proc.pid)
        self._drop_branches()
        self.root.close()
        self._start()

    def _drop_branches(self) -> None:
        for branch in self._branches.values():
            branch.close()
        self._branches.clear()
        self._owner.clear()

    def wait_ready(self) -> None:
        if self._ready:
            return
        self.root.ctl.settimeout(self.start_timeout)
        try:
            hello = wire.recv(self.root.ctl_file)
        except (OSError, EOFError, wire.WireError) as exc:
            err = (self.tmp / "zygote.err").read_text(errors="replace")[-2000:]
            raise GraderError(f"the worker process did not start: {exc}\n{err}") from None
        finally:
            self.root.ctl.settimeout(None)
        if not (isinstance(hello, dict) and hello.get("ready")):
            raise GraderError("the worker process sent a bad greeting")
        self._ready = True

    def spawn(self, files: dict[str, bytes], limits: dict) -> Worker:
        """A fresh worker that sees ``files`` (its own copy) and nothing of any other worker."""
        preload = tuple(limits.get("preload") or ())
        if not preload or not self.branching:
            with self.lock:  # one request at a time on the control socket (exercises run in threads)
                return self._spawn_or_restart(files, limits)
        for attempt in (1, 2):  # a branch a worker killed is forked again, once
            try:
                branch = self._branch(preload)
                with branch.lock:
                    return self._fork_worker(branch, files, limits)
            except GraderError:
                # a worker killed its branch (or the zygote itself): fork the branches again
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=0.5)
                with self._making, self.lock:
                    self._drop_branches()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _branch(self, preload: tuple[str, ...]) -> _Channel:
        """The branch that has imported ``preload``, forked from the zygote on first use."""
        with self._making:
            branch = self._branches.get(preload)
            if branch is not None:
                return branch
            with self.lock:
                self._restart_if_dead()
                self.wait_ready()
            scratch = str(Path(self.sandbox.scratch_root(self.tmp)) / f"b{self._next()}")
            with self.root.lock:
                pid, fd = self._request_fd(self.root, {"op": "branch", "preload": list(preload),
                                                    "scratch": scratch}, "could not start a branch")
            branch = _Channel(socket.socket(fileno=fd), pid)
            with self.lock:
                self._branches[preload] = branch
            return branch

    def _next(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def _spawn_or_restart(self, files: dict[str, bytes], limits: dict) -> Worker:
        try:
            return self._spawn(files, limits)
        except GraderError:
            # the zygote may have been killed by the previous worker: let it finish dying,
            # then start a fresh one and try once more
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self.proc.poll() is None:
                raise
            return self._spawn(files, limits)

    def _spawn(self, files: dict[str, bytes], limits: dict) -> Worker:
        self._restart_if_dead()
        self.wait_ready()
        return self._fork_worker(self.root, files, limits)

    def _fork_worker(self, channel: _Channel, files: dict[str, bytes], limits: dict) -> Worker:
        with self.lock:
            n = self._next()
            uid = None if self.trusted else self.sandbox.new_uid()
        stage = write_stage(files, self.tmp / f"s{n}", gid=uid)
        output = self.tmp / f"o{n}.out"
        os.close(os.open(output, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        if uid is not None:
            os.chown(output, uid, uid)
        inside = self.sandbox.inside
        scratch = str(Path(self.sandbox.scratch_root(self.tmp)) / f"w{n}")
        req = {"op": "spawn", "submission": inside(stage, self.tmp), "scratch": scratch,
               "output": inside(output, self.tmp), "uid": uid} | limits
        try:
            pid, fd = self._request_fd(channel, req, "could not start a worker")
        except GraderError:
            remove_tree(stage)
            raise
        worker = Worker(self, pid, socket.socket(fileno=fd), output, stage, uid)
        worker.limits = dict(limits)
        with self.lock:
            self._owner[pid] = channel
        return worker

    @staticmethod
    def _request_fd(channel: _Channel, req: dict, what: str) -> tuple[int, int]:
        """Send a spawn or branch request; the reply is a pid and a socket (``SCM_RIGHTS``)."""
        try:
            wire.send(channel.ctl_file, req)
            channel.ctl.settimeout(30)
            msg, fds, _, _ = socket.recv_fds(channel.ctl, 8, 1)
        except (OSError, EOFError) as exc:
            raise GraderError(f"{what}: {exc}") from None
        finally:
            with contextlib.suppress(OSError):
                channel.ctl.settimeout(None)
        if len(msg) != 8 or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise GraderError(f"{what}: bad reply from the zygote")
        (pid,) = struct.unpack("<q", msg)
        return pid, fds[0]

    def kill(self, pid: int) -> int | None:
        """Kill a worker (and everything it started); return its wait status if known."""
        with self.lock:
            channel = self._owner.pop(pid, self.root)
        with channel.lock:
            return self._kill(channel, pid)

    @staticmethod
    def _kill(channel: _Channel, pid: int) -> int | None:
        try:
            wire.send(channel.ctl_file, {"op": "kill", "pid": pid})
            channel.ctl.settimeout(30)
            reply = wire.recv(channel.ctl_file)
        except (OSError, EOFError, wire.WireError):
            return None
        finally:
            with contextlib.suppress(OSError):
                channel.ctl.settimeout(None)
        status = reply.get("status") if isinstance(reply, dict) else None
        return status if isinstance(status, int) else None

    def close(self) -> None:
        """End the zygote and everything below it; then every orphan of ours that is not
        under another live zygote (a subreaper adopts what a dead zygote leaves behind);
        then remove the run folder."""
        if self.closed:
            return
        self.closed = True
        Zygote.live.discard(self.proc.pid)
        kill_descendants(self.proc.pid)
        with contextlib.suppress(OSError, wire.WireError):
            wire.send(self.root.ctl_file, {"op": "quit"})
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        kill_descendants(os.getpid(), keep=set(Zygote.live))
        self._drop_branches()
        self.root.close()
        remove_tree(self.tmp)


class _Forked:
    """A child of this process, with the part of ``subprocess.Popen`` that Zygote uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                self.returncode = -1
                return self.returncode
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(f"zygote {self.pid}", timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode


def _forked_zygote(theirs: socket.socket, flags: list[str], env: dict[str, str], err: Path) -> _Forked:
    """A trusted zygote forked from this process, which has imported torch already: its pages
    (torch's ~150 MiB of private memory, the grader's modules) stay shared with this process
    instead of being made again by a second interpreter. Called from the main thread before
    any other thread runs (a fork copies only the calling thread), after ``gc.freeze()`` so
    that neither side's collections write to what they share. The child keeps only its
    control socket, takes the sandbox's environment (no secrets) and runs the zygote loop;
    it never returns into the grader."""
    import gc

    gc.freeze()
    fd = theirs.fileno()
    err_fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    pid = os.fork()
    if pid == 0:  # the trusted zygote
        code = 70
        try:
            os.setsid()
            # a fresh interpreter's handlers, not the grading process's (a batch pool's SIGTERM)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(err_fd, 2)
            os.dup2(fd, 3)
            os.closerange(4, 1 << 16)
            os.environ.clear()
            os.environ.update(env)
            os.chdir("/")
            from grader.worker.server import zygote_main

            zygote_main(3, list(flags))
            code = 0
        except BaseException as exc:  # noqa: BLE001 - the child must never return into the grader
            with contextlib.suppress(BaseException):
                os.write(2, f"trusted zygote failed: {type(exc).__name__}: {exc}\n".encode()[:2000])
        finally:
            os._exit(code)
    os.close(err_fd)
    return _Forked(pid)


class Worker:
    """One forked worker holding one exercise's student code."""

    def __init__(self, zygote: Zygote, pid: int, sock: socket.socket, output: Path, stage: Path,
                 uid: int | None) -> None:
        self.zygote = zygote
        self.pid = pid
        self.sock = sock
        self.output = output
        self.stage = stage
        self.uid = uid
        self.limits: dict = {}  # what it was started with (an oracle beside it gets the same)
        self.dead: WorkerLost | None = None
        self._tail: str | None = None

    # -- raw request/reply --

    def request(self, req: dict, timeout: float) -> Any:
        if self.dead is not None:
            raise self.dead
        try:
            blob = wire.encode(req)
            self.sock.settimeout(timeout)
            self.sock.sendall(struct.pack("<Q", len(blob)) + blob)
            reply = self._recv(timeout)
        except TimeoutError:
            self._die("timeout", msg("worker.no_answer", timeout=timeout))
        except (EOFError, ConnectionError, OSError) as exc:
            status = self.zygote.kill(self.pid)
            self._die("crashed", describe_exit(status, exc))
        except wire.WireError as exc:
            self._die("error", msg("worker.not_plain_data", exc=str(exc)))
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self._die("error", msg("worker.malformed_reply"))
        if reply["ok"]:
            return reply.get("value")
        err = reply.get("error")
        if not isinstance(err, dict):
            self._die("error", msg("worker.malformed_error"))
        frames = err.get("frames") if isinstance(err.get("frames"), list) else []
        kinds = err.get("kinds") if isinstance(err.get("kinds"), list) else []
        raise StudentError(
            type=str(err.get("type", "Error"))[:100],
            message=str(err.get("message", ""))[:2000],
            frames=[f for f in frames if isinstance(f, list) and len(f) == 4][:8],
            not_implemented=err.get("not_implemented") is True,
            kinds=tuple(k[:100] for k in kinds[:16] if isinstance(k, str)),
        )

    def _recv(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout

        def read(n: int) -> bytes:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                raise TimeoutError
            return self.sock.recv(min(n, 1 << 20))

        (n,) = struct.unpack("<Q", wire.recv_exact(read, 8))
        if n > wire.MAX_MESSAGE:
            raise wire.WireError("reply too large")
        return wire.decode(wire.recv_exact(read, n))

    def _die(self, status: str, message: str) -> None:
        if status != "crashed":
            self.zygote.kill(self.pid)
        with contextlib.suppress(OSError):
            self.sock.close()
        self.dead = WorkerLost(status, message)
        raise self.dead

    def forget_stage(self) -> None:
        """Remove this worker's stage now (its modules are imported): trusted stages never
        stay on disk longer than that."""
        remove_tree(self.stage)

    def output_tail(self) -> str:
        if self._tail is not None:
            return self._tail
        try:
            with open(self.output, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - MAX_OUTPUT_TAIL))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        """Kill the worker and remove everything it had on disk (stage, output, scratch; in
        the uid level also what its uid left in the shared temporary folders)."""
        if self.dead is None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.zygote.kill(self.pid)
            self.dead = WorkerLost("error", msg("worker.closed"))
        if self._tail is None:
            self._tail = self.output_tail()
        remove_tree(self.stage)
        with contextlib.suppress(OSError):
            os.unlink(self.output)
        if self.uid is not None and self.zygote.sandbox.level == "uid":
            sweep_uid(self.uid)


def describe_exit(status: int | None, exc: BaseException | None = None) -> str:
    if status is None:
        return msg("worker.ended")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        if name in ("SIGSEGV", "SIGKILL", "SIGXCPU"):
            return msg(f"worker.killed_{name.lower()}", sig=sig, name=name)
        return msg("worker.killed", sig=sig, name=name)
    if os.WIFEXITED(status):
        return msg("worker.exited", code=os.WEXITSTATUS(status))
    return msg("worker.ended")


def preload_for(files: dict[str, bytes], name: str) -> list[str]:
    """What the zygote should import before forking this exercise's worker (done once in the
    zygote; every later worker of the run starts with it, its pages shared): peft, with
    transformers, and safetensors, when the module imports peft or
    transformers: seconds, and ~150 MiB a worker would otherwise hold privately. (A torch
    optimizer needs no preload: the zygote's stand-in for torch._dynamo, in
    grader/worker/lazy_dynamo.py, spares it that import.)"""
    text = files.get(name, b"")
    if re.search(rb"^\s*(from|import)\s+(peft|transformers)\b", text, re.M):
        return list(HUGGING_FACE)
    return []
