"""Trusted side of the process boundary: start the zygote, get workers, talk to them.

Every reply is decoded with ``grader.protocol.wire`` (plain data only) and checked for form; a worker
that dies, hangs or answers nonsense becomes ``WorkerLost`` (a ``BaseException``, so no
check code and no hypothesis run can swallow it).
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.host.sandbox import Sandbox
from grader.protocol import wire
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

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


class Zygote:
    """A pre-loaded process (torch imported once) that forks one fresh worker per request."""

    live: set[int] = set()  # zygotes of this process still in use

    def __init__(self, sandbox: Sandbox, start_timeout: float = 120.0) -> None:
        set_subreaper()
        self.sandbox = sandbox
        self.tmp = Path(tempfile.mkdtemp(prefix="grader-"))
        os.chmod(self.tmp, 0o755)
        self.start_timeout = start_timeout
        self.counter = 0
        self.restarts = 0
        self.lock = threading.RLock()
        self._start()

    def _start(self) -> None:
        self.ctl, theirs = socket.socketpair()
        sandbox = self.sandbox
        lib = sandbox.install_worker(self.tmp)
        cmd = sandbox.command([sys.executable, "-m", "grader.worker", str(theirs.fileno()),
                               *sandbox.worker_flags()], self.tmp)
        env = sandbox.environment(sandbox.inside(lib, self.tmp))
        self.proc = subprocess.Popen(
            cmd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(self.tmp / "zygote.err", "wb"),  # noqa: SIM115
            env=env, start_new_session=True,
        )
        theirs.close()
        Zygote.live.add(self.proc.pid)
        self.ctl_file = self.ctl.makefile("rwb")
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
        with contextlib.suppress(OSError):
            self.ctl_file.close()
            self.ctl.close()
        self._start()

    def wait_ready(self) -> None:
        if self._ready:
            return
        self.ctl.settimeout(self.start_timeout)
        try:
            hello = wire.recv(self.ctl_file)
        except (OSError, EOFError, wire.WireError) as exc:
            err = (self.tmp / "zygote.err").read_text(errors="replace")[-2000:]
            raise GraderError(f"the worker process did not start: {exc}\n{err}") from None
        finally:
            self.ctl.settimeout(None)
        if not (isinstance(hello, dict) and hello.get("ready")):
            raise GraderError("the worker process sent a bad greeting")
        self._ready = True

    def spawn(self, submission: Path, limits: dict) -> Worker:
        with self.lock:  # one request at a time on the control socket (exercises run in threads)
            return self._spawn_or_restart(submission, limits)

    def _spawn_or_restart(self, submission: Path, limits: dict) -> Worker:
        try:
            return self._spawn(submission, limits)
        except GraderError:
            # the zygote may have been killed by the previous worker: let it finish dying,
            # then start a fresh one and try once more
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            if self.proc.poll() is None:
                raise
            return self._spawn(submission, limits)

    def _spawn(self, submission: Path, limits: dict) -> Worker:
        self._restart_if_dead()
        self.wait_ready()
        self.counter += 1
        stage = stage_submission(submission, self.tmp / f"s{self.counter}")
        scratch = self.tmp / f"w{self.counter}"
        scratch.mkdir()
        os.chmod(scratch, 0o777)
        output = self.tmp / f"w{self.counter}.out"
        output.touch()
        os.chmod(output, 0o666)
        inside = self.sandbox.inside
        req = {"op": "spawn", "submission": inside(stage, self.tmp), "scratch": inside(scratch, self.tmp),
               "output": inside(output, self.tmp)} | limits
        try:
            wire.send(self.ctl_file, req)
            self.ctl.settimeout(30)
            msg, fds, _, _ = socket.recv_fds(self.ctl, 8, 1)
        except (OSError, EOFError) as exc:
            raise GraderError(f"could not start a worker: {exc}") from None
        finally:
            self.ctl.settimeout(None)
        if len(msg) != 8 or len(fds) != 1:
            raise GraderError("could not start a worker: bad reply from the zygote")
        (pid,) = struct.unpack("<q", msg)
        return Worker(self, pid, socket.socket(fileno=fds[0]), output)

    def kill(self, pid: int) -> int | None:
        """Kill a worker (and everything it started); return its wait status if known."""
        with self.lock:
            return self._kill(pid)

    def _kill(self, pid: int) -> int | None:
        try:
            wire.send(self.ctl_file, {"op": "kill", "pid": pid})
            self.ctl.settimeout(30)
            reply = wire.recv(self.ctl_file)
        except (OSError, EOFError, wire.WireError):
            return None
        finally:
            with contextlib.suppress(OSError):
                self.ctl.settimeout(None)
        status = reply.get("status") if isinstance(reply, dict) else None
        return status if isinstance(status, int) else None

    def close(self) -> None:
        """End the zygote and everything below it; then every orphan of ours that is not
        under another live zygote (a subreaper adopts what a dead zygote leaves behind)."""
        Zygote.live.discard(self.proc.pid)
        kill_descendants(self.proc.pid)
        with contextlib.suppress(OSError, wire.WireError):
            wire.send(self.ctl_file, {"op": "quit"})
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        kill_descendants(os.getpid(), keep=set(Zygote.live))
        shutil.rmtree(self.tmp, ignore_errors=True)


MAX_SUBMISSION_BYTES = 16 << 20


def stage_submission(submission: Path, stage: Path) -> Path:
    """Copy the submission's modules into a read-only folder of the run: student code can
    neither change the originals nor another exercise's view of them."""
    stage.mkdir(mode=0o755)
    total = 0
    for f in sorted(Path(submission).glob("*.py")):
        if not f.is_file():
            continue
        total += f.stat().st_size
        if total > MAX_SUBMISSION_BYTES:
            raise GraderError(f"the submission is larger than {MAX_SUBMISSION_BYTES >> 20} MiB")
        shutil.copyfile(f, stage / f.name)
        os.chmod(stage / f.name, 0o644)
    return stage


class Worker:
    """One forked worker holding one exercise's student code."""

    def __init__(self, zygote: Zygote, pid: int, sock: socket.socket, output: Path) -> None:
        self.zygote = zygote
        self.pid = pid
        self.sock = sock
        self.output = output
        self.dead: WorkerLost | None = None

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
            self._die("timeout", f"no answer within {timeout:g} s (an infinite loop, or far too slow)")
        except (EOFError, ConnectionError, OSError) as exc:
            status = self.zygote.kill(self.pid)
            self._die("crashed", describe_exit(status, exc))
        except wire.WireError as exc:
            self._die("error", f"the worker sent something that is not plain data ({exc})")
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self._die("error", "the worker sent a malformed reply")
        if reply["ok"]:
            return reply.get("value")
        err = reply.get("error")
        if not isinstance(err, dict):
            self._die("error", "the worker sent a malformed error")
        frames = err.get("frames") if isinstance(err.get("frames"), list) else []
        raise StudentError(
            type=str(err.get("type", "Error"))[:100],
            message=str(err.get("message", ""))[:2000],
            frames=[f for f in frames if isinstance(f, list) and len(f) == 4][:8],
            not_implemented=err.get("not_implemented") is True,
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

    def output_tail(self) -> str:
        try:
            with open(self.output, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - MAX_OUTPUT_TAIL))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def close(self) -> None:
        if self.dead is None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.zygote.kill(self.pid)
            self.dead = WorkerLost("error", "worker closed")


def describe_exit(status: int | None, exc: BaseException | None = None) -> str:
    if status is None:
        return "the worker process ended without answering"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        extra = {"SIGSEGV": " (a segmentation fault)", "SIGKILL": " (killed: out of memory or CPU time?)",
                 "SIGXCPU": " (CPU time limit)"}.get(name, "")
        return f"the worker process was killed by signal {sig}, {name}{extra}"
    if os.WIFEXITED(status):
        return (f"the worker process exited with code {os.WEXITSTATUS(status)} "
                "(sys.exit or os._exit in your code?)")
    return "the worker process ended without answering"
