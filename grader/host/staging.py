"""Staging a submission: read once, as regular files only, and the same bytes used everywhere.

The trusted side reads the submission's modules with ``lstat`` and ``O_NOFOLLOW``: a link or
a special file is refused (and named in the report), never followed. Those bytes are what
the seed is hashed from, what the banned-API scan reads and what each worker imports, from
a copy that only that worker may read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.messages import msg

MAX_FILE_BYTES = 4 << 20
MAX_SUBMISSION_BYTES = 16 << 20
MAX_FILES = 200


@dataclass
class Staged:
    """The submission's modules as bytes, and what was refused (file name -> reason)."""

    origin: str
    files: dict[str, bytes] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    error: str = ""  # the whole submission was refused (e.g. too large)

    def digest(self, names: list[str]) -> int:
        """A seed from the staged bytes of ``names`` (the exercise modules)."""
        h = hashlib.sha256()
        for name in names:
            h.update(name.encode() + b"\0")
            h.update(self.files.get(f"{name}.py", b"<missing>"))
        return int(h.hexdigest()[:12], 16)


def read_submission(folder: Path) -> Staged:
    """The ``*.py`` files at the top of ``folder``: regular files only, size-capped."""
    staged = Staged(str(folder))
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        staged.error = msg("staging.cannot_open", why=str(exc.strerror or exc))
        return staged
    try:
        names = sorted(n for n in os.listdir(fd) if n.endswith(".py"))
        total = 0
        for name in names[:MAX_FILES]:
            try:
                st = os.lstat(name, dir_fd=fd)
            except OSError as exc:
                staged.refused[name] = msg("staging.unreadable", why=str(exc.strerror))
                continue
            if stat.S_ISLNK(st.st_mode):
                staged.refused[name] = msg("staging.symlink")
                continue
            if not stat.S_ISREG(st.st_mode):
                staged.refused[name] = msg("staging.not_regular")
                continue
            total += st.st_size
            if total > MAX_SUBMISSION_BYTES:
                staged.error = msg("staging.too_much", mib=MAX_SUBMISSION_BYTES >> 20)
                staged.files.clear()
                return staged
            if st.st_size > MAX_FILE_BYTES:
                staged.refused[name] = msg("staging.too_large", mib=MAX_FILE_BYTES >> 20)
                continue
            try:
                f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
            except OSError as exc:
                staged.refused[name] = msg("staging.unreadable", why=str(exc.strerror))
                continue
            try:
                if not stat.S_ISREG(os.fstat(f).st_mode):  # swapped for something else meanwhile
                    staged.refused[name] = msg("staging.not_regular")
                    continue
                data = b""
                while len(data) <= MAX_FILE_BYTES:
                    chunk = os.read(f, 1 << 20)
                    if not chunk:
                        break
                    data += chunk
            finally:
                os.close(f)
            if len(data) > MAX_FILE_BYTES:
                staged.refused[name] = msg("staging.too_large", mib=MAX_FILE_BYTES >> 20)
                continue
            staged.files[name] = data
        if len(names) > MAX_FILES:
            staged.refused["(more files)"] = msg("staging.too_many", n=MAX_FILES)
    finally:
        os.close(fd)
    return staged


def write_stage(files: dict[str, bytes], dest: Path, gid: int | None = None) -> Path:
    """Write ``files`` into a new folder ``dest`` that only its worker may read: owned by root
    with group ``gid`` (mode 0750/0640) when workers have uids of their own, else 0555/0444."""
    dest.mkdir(mode=0o700)
    for name, data in files.items():
        p = dest / name
        with open(p, "xb") as f:
            f.write(data)
        os.chmod(p, 0o640 if gid is not None else 0o444)
        if gid is not None:
            os.chown(p, 0, gid)
    if gid is not None:
        os.chown(dest, 0, gid)
        os.chmod(dest, 0o750)
    else:
        os.chmod(dest, 0o555)
    return dest


RUN_PREFIXES = ("grader-run-", "grader-mistakes-", "grader-view-")
_swept = False


def private_dir(prefix: str, mode: int = 0o700) -> Path:
    """A new folder in the temporary folder, closed to others (``mode``), marked with the
    grading process's pid so that a later run removes it if that process was killed."""
    global _swept
    if not _swept:
        _swept = True
        sweep_stale()
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, mode)
    (d / ".owner").write_text(f"{os.getpid()} {_start_time(os.getpid())}")
    return d


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def sweep_stale() -> int:
    """Remove run folders left by grading processes that no longer exist (killed)."""
    removed = 0
    root = Path(tempfile.gettempdir())
    try:
        entries = list(root.iterdir())
    except OSError:
        return 0
    for d in entries:
        if not d.name.startswith(RUN_PREFIXES) or d.is_symlink() or not d.is_dir():
            continue
        try:
            if d.stat().st_uid != os.getuid():
                continue
            pid_s, start = (d / ".owner").read_text().split()
            pid = int(pid_s)
        except (OSError, ValueError):
            continue
        alive = os.path.exists(f"/proc/{pid}") and _start_time(pid) == start if os.path.exists("/proc") else True
        if not alive:
            remove_tree(d)
            removed += 1
    return removed


def remove_tree(path: Path) -> None:
    """Remove a folder even where its contents were made read-only."""
    if not os.path.lexists(path):
        return

    def fix(_func, p, _exc) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        with contextlib.suppress(OSError):
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)

    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    shutil.rmtree(path, onerror=fix)


SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")


def sweep_uid(uid: int, roots: tuple[str, ...] = SHARED_TMP) -> int:
    """Remove what a worker uid left in the host's shared temporary folders (uid level)."""
    removed = 0
    for root in roots:
        if not os.path.isdir(root):
            continue
        try:
            entries = os.listdir(root)
        except OSError:
            continue
        for name in entries:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if st.st_uid != uid:
                continue
            if stat.S_ISDIR(st.st_mode):
                remove_tree(Path(p))
            else:
                with contextlib.suppress(OSError):
                    os.unlink(p)
            removed += 1
    return removed
