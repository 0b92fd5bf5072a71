"""How the worker is confined: three levels, the strongest this machine offers.

``bwrap`` (Linux with bubblewrap that may create namespaces): the zygote runs in ``bwrap``
with its own pid, network, IPC and UTS namespaces and an *allowlist* root: an empty tmpfs
into which only the interpreter (its executable, standard library and the site-packages the
worker imports, with the grader's own installed package covered), the system's shared
libraries, the worker's copy of ``grader.protocol`` + ``grader.worker``, the run folder (the
stages of this one submission, each readable by its own worker only), a size-limited
``/tmp`` and ``/dev/shm``, a minimal ``/dev`` and a fresh ``/proc`` are mounted. No host
file, socket or other copy of the course exists there. As root the zygote keeps only the
capabilities it needs to start workers (setuid/setgid, chown, kill, file ownership); each
worker takes a uid of its own and has none.

``uid`` (Linux, the grader is root, namespaces refused: Docker-based graders such as
Gradescope): no bubblewrap, but every worker runs as a uid of its own with no capabilities,
``no_new_privs`` and seccomp. The reference side (solutions, mistakes, the grader's package
with its checks, snapshots and data, ``.git``, the trusted zygote's files) is made
unreadable to other users, and this is verified from a process running as such a uid before
any student code runs; the level is refused, with the reason, when it cannot be ensured.

``process`` (anywhere): a separate process with rlimits, a wall-clock budget, its own
session, stdin closed, output captured and (Linux) seccomp. The worker runs as the grading
user and can read what that user can read: never an official grade (``--require-sandbox``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import secrets
import shutil
import stat
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent.parent
SECRET_PREFIXES = ("GRADER_", "GITHUB_", "CI_JOB_TOKEN", "AWS_", "GOOGLE_", "AZURE_", "HF_TOKEN")
INSIDE_RUN = "/run/grader"  # where the run folder appears inside the bubblewrap sandbox
WORKER_PACKAGES = ("protocol", "worker")  # copied whole into the sandbox; nothing else of the grader
TMP_BYTES = 256 << 20  # the sandbox's /tmp (tmpfs): counted against the workers' memory budget
SHM_BYTES = 64 << 20
UID_RANGE = (1 << 20, 1 << 30)  # worker uids: drawn at random, so never reused across runs
LEVELS = ("bwrap", "uid", "process")
# capabilities the zygote keeps inside bubblewrap when the grader is root (workers drop all)
ZYGOTE_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL", "CAP_FOWNER", "CAP_DAC_OVERRIDE")


class SandboxUnavailable(RuntimeError):
    """A level was required that cannot run here; the message says exactly why."""


def bwrap_program() -> str | None:
    return os.environ.get("GRADER_BWRAP") or shutil.which("bwrap")


@dataclass
class Sandbox:
    level: str = "process"  # bwrap | uid | process
    hide: list[Path] = field(default_factory=list)
    why_not: dict[str, str] = field(default_factory=dict)  # stronger levels and why they did not run

    @property
    def separate_uids(self) -> bool:
        """Each worker runs as a uid of its own (files of one worker are closed to the others)."""
        return os.getuid() == 0 and self.level in ("bwrap", "uid")

    def new_uid(self) -> int | None:
        return secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0] if self.separate_uids else None

    # -- the worker's files --

    def install_worker(self, run_dir: Path) -> Path:
        """Copy the worker-side packages (and nothing else of the grader) into the run folder."""
        lib = run_dir / "lib" / "grader"
        lib.mkdir(parents=True, exist_ok=True)
        (lib / "__init__.py").write_text('"""The worker side of the grader (a copy)."""\n')
        for pkg in WORKER_PACKAGES:
            (lib / pkg).mkdir(exist_ok=True)
            for f in sorted((GRADER_DIR / pkg).glob("*.py")):
                shutil.copy2(f, lib / pkg / f.name)  # the same mtime: the compiled copy below stays valid
                cached = Path(importlib.util.cache_from_source(str(f)))
                if cached.is_file():  # the zygote (which writes no bytecode) need not compile it again
                    (lib / pkg / "__pycache__").mkdir(exist_ok=True)
                    shutil.copy2(cached, lib / pkg / "__pycache__" / cached.name)
        for p in [lib.parent, *lib.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        return lib.parent

    def inside(self, path: Path, run_dir: Path) -> str:
        """The path the worker sees for a path inside the run folder."""
        if self.level != "bwrap":
            return str(path)
        return str(Path(INSIDE_RUN) / Path(path).relative_to(run_dir))

    def scratch_root(self, run_dir: Path) -> str:
        """Where the zygote makes each worker's private scratch folder."""
        return "/tmp" if self.level == "bwrap" else str(run_dir)

    # -- the command --

    def command(self, argv: list[str], run_dir: Path) -> list[str]:
        if self.level != "bwrap":
            return argv
        return [bwrap_program() or "bwrap", *self.bwrap_args(run_dir), "--", *argv]

    def bwrap_args(self, run_dir: Path | None) -> list[str]:
        args = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try"]
        if os.getuid() != 0:
            args += ["--unshare-user", "--disable-userns"]
        else:
            args += ["--cap-drop", "ALL"]
            for cap in ZYGOTE_CAPS:
                args += ["--cap-add", cap]
        args += ["--dev", "/dev", "--proc", "/proc",
                 "--perms", "0755" if os.getuid() == 0 else "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp",
                 "--perms", "0755" if os.getuid() == 0 else "1777", "--size", str(SHM_BYTES),
                 "--tmpfs", "/dev/shm"]
        made: set[Path] = set()
        mounted = [q for q in allowlist() if q.is_dir() and not q.is_symlink()]
        for path in allowlist():
            for parent in list(path.parents)[::-1][1:]:  # traversable for every worker uid
                if parent not in made and parent not in (Path("/tmp"), Path("/dev"), Path("/dev/shm")) \
                        and not any(parent == q or parent.is_relative_to(q) for q in mounted if q != path):
                    args += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            if path.is_symlink() and str(path) in SYSTEM_LIBS:  # /lib -> usr/lib on merged-/usr systems
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.exists():  # a link elsewhere (a venv's bin/python) is bound as its target
                args += ["--ro-bind", str(path), str(path)]
        for p in covered_inside(self.hide):
            args += ["--tmpfs", str(p)] if p.is_dir() else ["--ro-bind", "/dev/null", str(p)]
        if run_dir is not None:
            args += ["--perms", "0755", "--dir", str(Path(INSIDE_RUN).parent), "--bind", str(run_dir), INSIDE_RUN]
        args += ["--remount-ro", "/", "--chdir", "/", "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp"]
        return args

    def environment(self, lib: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
        env["PYTHONPATH"] = lib
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONHASHSEED"] = "0"
        env["PYTHONNOUSERSITE"] = "1"
        env["OMP_NUM_THREADS"] = "1"
        env["MKL_NUM_THREADS"] = "1"
        env["HYPOTHESIS_STORAGE_DIRECTORY"] = "/nonexistent"
        env.pop("PYTHONSTARTUP", None)
        if self.level == "bwrap":
            env["HOME"] = env["TMPDIR"] = "/tmp"
        return env

    def worker_flags(self) -> list[str]:
        return ["--confine"] if self.separate_uids else ["--seccomp"]



# --- what exists inside the bubblewrap sandbox -----------------------------------------------


def _course_roots(hide: list[Path]) -> list[Path]:
    """Course checkouts: where the grader runs from (unless it is installed into
    site-packages, whose grader/ is covered instead) and the folders holding ``hide``."""
    roots = [Path(h).resolve().parent for h in hide]
    if GRADER_DIR.parent.name not in ("site-packages", "dist-packages"):
        roots.append(GRADER_DIR.parent)
    return roots


def interpreter_paths() -> list[Path]:
    """The interpreter's own files: its executable, standard library, extension modules,
    shared library and the site-packages on ``sys.path`` (never a course checkout)."""
    paths: set[Path] = {Path(sys.executable).resolve(), Path(sys.executable).absolute(),
                        Path(sys.prefix) / "pyvenv.cfg"}
    link = Path(sys.executable).absolute()
    for _ in range(16):  # every link on the way to the executable (a venv's bin/python -> python3 -> ...)
        if not link.is_symlink():
            break
        link = link.parent / os.readlink(link)
        paths.add(Path(os.path.abspath(link)))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            paths.add(Path(sysconfig.get_paths()[key]))
    for key in ("LIBDIR", "LIBPL", "BINDIR"):
        v = sysconfig.get_config_var(key)
        if v and key != "BINDIR":
            paths.add(Path(v))
    import site

    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    for p in [*site.getsitepackages(), *sys.path]:
        if not p or not Path(p).is_dir():
            continue
        q = Path(p).resolve()
        # only the interpreter's own folders and package folders: never the cwd or a script's
        # folder that sys.path also holds (/tmp, a home folder, a checkout)
        if any(q.is_relative_to(pre) for pre in prefixes) or q.name in ("site-packages", "dist-packages"):
            paths.add(q)
    roots = [r.resolve() for r in _course_roots([])]
    venv = _own_venv(roots)
    keep = []
    for p in paths:
        if not p.exists() or p == Path("/"):
            continue
        in_venv = venv is not None and p.is_relative_to(venv)
        if not in_venv and any(p == r or p.is_relative_to(r) for r in roots):
            continue  # the course checkout (editable installs put it on sys.path)
        if p.is_dir() and any(r.is_relative_to(p) for r in roots) and "site-packages" not in str(p):
            continue  # a folder holding the course (e.g. a cwd above it)
        if p.is_dir() and ((p / "solutions").is_dir() or (p / "grader" / "course").is_dir()) \
                and "site-packages" not in str(p):
            continue  # another checkout of a course (an editable install elsewhere)
        keep.append(p)
    return _outermost(keep)


def _own_venv(roots: list[Path]) -> Path | None:
    """The virtual environment the grader runs in, when it is a folder of its own (README's
    ``python -m venv .venv`` inside the course folder): its interpreter files are mounted
    although they lie inside the checkout, and nothing else of the checkout is."""
    if sys.prefix == sys.base_prefix:
        return None
    venv = Path(sys.prefix).resolve()
    if not (venv / "pyvenv.cfg").is_file() or any(venv == r or r.is_relative_to(venv) for r in roots):
        return None
    if (venv / "solutions").is_dir() or (venv / "grader").is_dir() or (venv / "mistakes").is_dir():
        return None
    return venv


def _outermost(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda x: len(x.parts)):
        if not any(p.is_relative_to(q) for q in out if q.is_dir()):
            out.append(p)
    return out


SYSTEM_LIBS = ("/lib", "/lib64", "/lib32", "/libx32", "/usr/lib", "/usr/lib64", "/usr/lib32",
               "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")


@functools.lru_cache(maxsize=1)
def allowlist() -> list[Path]:
    """Every host path mounted into the sandbox (read-only), outermost first."""
    out = [Path(p) for p in SYSTEM_LIBS if os.path.lexists(p)]
    for p in interpreter_paths():
        if not any(p.is_relative_to(q) for q in out if q.is_dir() and not q.is_symlink()):
            out.append(p)
    return out


def covered_inside(hide: list[Path]) -> list[Path]:
    """Hidden paths that lie inside a mounted path (the installed grader in site-packages)."""
    targets = {GRADER_DIR.resolve(), *[Path(h).resolve() for h in hide]}
    mounted = [p for p in allowlist() if p.is_dir() and not p.is_symlink()]
    # an installed copy of this grader (site-packages/grader), with its checks, snapshots and data
    import site

    packages = [Path(p) for p in [*site.getsitepackages(), *sys.path] if p.endswith(("site-packages", "dist-packages"))]
    targets |= {(p / "grader").resolve() for p in packages if (p / "grader" / "course").is_dir()}
    return sorted(t for t in targets if t.exists() and any(t.is_relative_to(m) for m in mounted))


def hidden_paths(extra: list[Path] | None = None) -> list[Path]:
    """What a worker must not read: the grader's package (checks, snapshots, data), and beside
    a course checkout its reference, known mistakes and history; plus ``extra``."""
    out = [GRADER_DIR]
    for root in {GRADER_DIR.parent, *(Path(e).resolve().parent for e in extra or [])}:
        out += [root / "solutions", root / "mistakes", root / ".git"]
    out += [Path(e).resolve() for e in extra or []]
    return [p for p in dict.fromkeys(out) if p.exists()]


# --- choosing a level --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def bwrap_error() -> str | None:
    """None when bubblewrap can run the sandbox here, else what went wrong (its own words)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    exe = bwrap_program()
    if exe is None:
        return "the `bwrap` program is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = [exe, *Sandbox("bwrap").bwrap_args(None), "--", str(Path(sys.executable).resolve()), "-S", "-c", "pass"]
    try:
        res = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"running {exe} failed: {exc}"
    if res.returncode == 0:
        return None
    said = res.stderr.decode("utf-8", "replace").strip().splitlines()
    return (f"{exe} cannot create the sandbox here: {said[-1] if said else f'exit code {res.returncode}'}"
            " (containers such as Docker usually refuse new namespaces; on Ubuntu 24.04 AppArmor "
            "may block unprivileged ones)")


def bwrap_works() -> bool:
    return bwrap_error() is None


def uid_error(hide: list[Path]) -> str | None:
    """None when the ``uid`` level can run: root, and a worker uid can read the interpreter but
    none of ``hide`` (after making those closed to others)."""
    if not sys.platform.startswith("linux"):
        return f"the uid level needs Linux (this is {sys.platform})"
    if os.getuid() != 0:
        return "the uid level needs the grader to run as root (it starts each worker as a uid of its own)"
    for p in hide:
        close_to_others(p)
    readable = probe_as_uid(UID_RANGE[0] - 7, [str(p) for p in hide],
                            [str(p) for p in interpreter_paths() if p.is_dir()])
    return readable


def close_to_others(path: Path) -> None:
    """Remove every permission of 'others' from ``path`` (a folder closed this way closes all
    below it) unless it is already closed. Only the uid level, as root, calls this."""
    with contextlib.suppress(OSError):
        mode = os.lstat(path).st_mode
        if not stat.S_ISLNK(mode) and mode & 0o007:
            os.chmod(path, stat.S_IMODE(mode) & ~0o007)


def probe_as_uid(uid: int, secret: list[str], needed: list[str]) -> str | None:
    """Fork a process that becomes ``uid`` and tries to read each path; report what is wrong."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        msg = ""
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for p in secret:
                try:
                    if os.path.isdir(p):
                        os.listdir(p)
                    else:
                        open(p, "rb").close()  # noqa: SIM115
                    msg = f"{p} is readable by an unprivileged user, and could not be closed"
                    break
                except OSError:
                    pass
            if not msg:
                for p in needed:
                    try:
                        os.listdir(p)
                    except OSError as exc:
                        msg = (f"the Python installation is not readable by an unprivileged user ({p}: "
                               f"{exc.strerror}); install Python and the grader where others may read "
                               "them (e.g. a virtualenv in /opt)")
                        break
        except OSError as exc:
            msg = f"cannot switch to an unprivileged uid: {exc}"
        os.write(w, msg.encode()[:4000])
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out or None


def choose(require_strong: bool = False, hide: list[Path] | None = None, prefer: str = "auto") -> Sandbox:
    """The strongest level this machine offers, or exactly ``prefer``; ``require_strong``
    refuses ``process`` (SandboxUnavailable, with every reason)."""
    hide_paths = hidden_paths(hide)
    why: dict[str, str] = {}
    order = LEVELS if prefer in ("auto", "", None) else (prefer,)
    for level in order:
        if level == "process":
            break
        err = bwrap_error() if level == "bwrap" else uid_error(hide_paths)
        if err is None:
            return Sandbox(level, hide_paths, why)
        why[level] = err
    if require_strong or prefer not in ("auto", "process", "", None):
        reasons = "; ".join(f"{k}: {v}" for k, v in why.items())
        raise SandboxUnavailable(f"no sandbox that hides the reference can run here ({reasons})")
    return Sandbox("process", hide_paths, why)
