"""Process bookkeeping shared by both sides: subreapers and killing whole process trees.

A subreaper adopts every orphan below it, so a submission's daemons (``setsid``, double
fork) stay findable and are killed when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def set_subreaper() -> bool:
    """Make this process adopt orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ... ; comm may contain spaces and parentheses
        rest = stat[stat.rfind(")") + 2 :].split()
        if len(rest) > 1:
            out[int(entry.name)] = int(rest[1])
    return out


def descendants(root: int) -> list[int]:
    parents = _parents()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_descendants(root: int, keep: set[int] | frozenset[int] = frozenset(), rounds: int = 20) -> int:
    """SIGKILL every descendant of ``root`` not in ``keep`` (and not below them); return count."""
    killed = 0
    for _ in range(rounds):
        victims = [p for p in descendants(root) if p not in keep and not _below(p, keep)]
        if not victims:
            break
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        reap()
    return killed


def _below(pid: int, keep: set[int] | frozenset[int]) -> bool:
    if not keep:
        return False
    parents = _parents()
    seen = 0
    while pid in parents and seen < 1000:
        pid = parents[pid]
        if pid in keep:
            return True
        seen += 1
    return False


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
