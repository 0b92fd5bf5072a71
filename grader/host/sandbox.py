"""How the worker is confined: the process boundary everywhere, bubblewrap where Linux has it.

``process`` (any OS): a separate process with rlimits (memory, CPU time, file size,
processes), a wall-clock timeout per call, its own session, stdin closed, output captured,
and on Linux a seccomp filter against new user namespaces and ptrace.

``bwrap`` (Linux with bubblewrap): the same, inside ``bwrap`` with its own pid, network, IPC
and UTS namespaces (no network), ``--die-with-parent``, a read-only view of the file system
in which the reference, the known mistakes, the grader's own package and ``.git`` are covered
by empty tmpfs mounts, a fresh ``/tmp``, and the worker running as uid 65534 (when the
grader runs as root; every capability goes with root) with ``no_new_privs``, seccomp, and a
cap on processes. The interpreter may live where only root can read (``/root/.pyenv``): its
prefix is bound into the sandbox under an empty, traversable tmpfs.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent.parent
SECRET_PREFIXES = ("GRADER_", "GITHUB_", "CI_JOB_TOKEN", "AWS_", "GOOGLE_", "AZURE_", "HF_TOKEN")
INSIDE_RUN = "/tmp/run"  # under the sandbox's own tmpfs: the root is read-only
WORKER_PACKAGES = ("protocol", "worker")  # copied whole into the sandbox; nothing else of the grader


class SandboxUnavailable(RuntimeError):
    """``--require-sandbox`` was given and the strong sandbox cannot run here."""


@dataclass
class Sandbox:
    level: str = "process"  # process | bwrap
    hide: list[Path] = field(default_factory=list)

    # -- the worker's files --

    def install_worker(self, run_dir: Path) -> Path:
        """Copy the worker-side modules (and nothing else of the grader) into the run folder."""
        lib = run_dir / "lib" / "grader"
        lib.mkdir(parents=True, exist_ok=True)
        (lib / "__init__.py").write_text('"""The worker side of the grader (a copy)."""\n')
        for pkg in WORKER_PACKAGES:
            (lib / pkg).mkdir(exist_ok=True)
            for f in sorted((GRADER_DIR / pkg).glob("*.py")):
                shutil.copy(f, lib / pkg / f.name)
        return lib.parent

    def inside(self, path: Path, run_dir: Path) -> str:
        """The path the worker sees for a path inside the run folder."""
        if self.level != "bwrap":
            return str(path)
        return str(Path(INSIDE_RUN) / Path(path).relative_to(run_dir))

    # -- the command --

    def command(self, argv: list[str], run_dir: Path) -> list[str]:
        if self.level != "bwrap":
            return argv
        args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp",
                "--perms", "1777", "--tmpfs", "/dev/shm"]
        if os.getuid() != 0:
            args += ["--unshare-user", "--disable-userns"]
        covered: set[str] = set()
        for p in sorted({Path(h).resolve() for h in self.hide if Path(h).exists()}):
            if p.is_dir():
                args += ["--tmpfs", str(p)]
            else:
                args += ["--ro-bind", "/dev/null", str(p)]
        for need in self._interpreter_paths():
            if need.is_relative_to("/tmp") or need.is_relative_to("/dev/shm"):
                # a virtual environment in /tmp: the sandbox's fresh /tmp would hide it
                args += ["--ro-bind", str(need), str(need)]
                continue
            top = _closed_ancestor(need)
            if top is not None and str(top) not in covered:
                args += ["--tmpfs", str(top)]
                covered.add(str(top))
            if top is not None:
                # the folders between are made traversable (bwrap would copy the closed modes)
                for mid in [q for q in list(need.parents)[::-1] if q.is_relative_to(top) and q != top]:
                    if str(mid) not in covered:
                        args += ["--perms", "0755", "--dir", str(mid)]
                        covered.add(str(mid))
                args += ["--ro-bind", str(need), str(need)]
        args += ["--bind", str(run_dir), INSIDE_RUN, "--chdir", INSIDE_RUN,
                 "--setenv", "HOME", INSIDE_RUN, "--setenv", "TMPDIR", "/tmp", "--"]
        return args + argv

    @staticmethod
    def _interpreter_paths() -> list[Path]:
        """Folders the interpreter and its packages need, which root alone may be able to read."""
        paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                 Path(sys.executable).resolve().parent}
        for entry in sys.path:
            p = Path(entry)
            if entry and p.is_dir() and not str(p.resolve()).startswith(str(GRADER_DIR.parent)):
                paths.add(p.resolve())
        out: list[Path] = []
        for p in sorted(paths, key=lambda x: len(x.parts)):
            if not any(p.is_relative_to(q) for q in out):
                out.append(p)
        return out

    def environment(self, lib: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
        env["PYTHONPATH"] = lib
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONHASHSEED"] = "0"
        env["PYTHONNOUSERSITE"] = "1"
        env["OMP_NUM_THREADS"] = "1"
        env["MKL_NUM_THREADS"] = "1"
        env.pop("PYTHONSTARTUP", None)
        return env

    def worker_flags(self) -> list[str]:
        return ["--confine"] if self.level == "bwrap" else ["--seccomp"]


def _closed_ancestor(path: Path) -> Path | None:
    """The highest folder above ``path`` that others may not enter (e.g. ``/root``)."""
    found = None
    for parent in list(path.parents)[::-1] + [path]:
        try:
            if parent != Path("/") and not parent.stat().st_mode & 0o001:
                found = parent
                break
        except OSError:
            break
    return found


@functools.lru_cache(maxsize=1)
def bwrap_works() -> bool:
    exe = shutil.which("bwrap")
    if exe is None or not sys.platform.startswith("linux"):
        return False
    probe = Sandbox("bwrap").command(["true"], Path("/tmp"))
    try:
        return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def hidden_paths(extra: list[Path] | None = None) -> list[Path]:
    """What the worker must not see: the grader's package (with its snapshots), and beside a
    course checkout its reference, known mistakes and history; plus ``extra``."""
    out = [GRADER_DIR]
    for root in {GRADER_DIR.parent, *(Path(e).resolve().parent for e in extra or [])}:
        out += [root / "solutions", root / "mistakes", root / ".git"]
    out += [Path(e).resolve() for e in extra or []]
    return [p for p in dict.fromkeys(out) if p.exists()]


def choose(require_strong: bool = False, hide: list[Path] | None = None, prefer: str = "auto") -> Sandbox:
    """The strongest sandbox this machine offers (``prefer="process"`` forces the weaker)."""
    hide = hidden_paths(hide)
    if prefer != "process" and bwrap_works():
        return Sandbox("bwrap", list(hide or []))
    if require_strong:
        raise SandboxUnavailable(
            "the bubblewrap sandbox is not available here (Linux with the `bwrap` program "
            "is required; install the Debian package `bubblewrap`)")
    return Sandbox("process", list(hide or []))
