"""Environments for the tests that install or run the grader as a user would: a fresh virtual
environment that sees this one's packages, a ``grade`` command for the grader under test, and
an environment without this checkout on ``PYTHONPATH``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.harness import ROOT


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would make a subprocess import this checkout
    (or another environment) instead of what it installed; pip stays offline."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(NO_COLOR="1", COLUMNS="200", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1")
    env.update(extra)
    return env


def site_dirs() -> list[str]:
    """The folders this interpreter loads installed packages from (a venv's own, and its
    base's when it includes them), in order."""
    return [p for p in dict.fromkeys(sys.path)
            if p and p.rstrip("/").endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]


def venv_parent(tmp_path: Path) -> Path:
    """Where to put a test's virtual environment. Not under /tmp when bubblewrap runs the
    workers: the sandbox mounts a fresh /tmp (it binds the running venv back, not others)."""
    from grader.host.sandbox import bwrap_works

    if bwrap_works():
        base = Path.home() / ".cache" / "transformer-grader"
        try:
            base.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="test-venv-", dir=base))
        except OSError:
            pass
    return tmp_path


def make_venv(where: Path, inherit: bool = True) -> Path:
    """A new virtual environment at ``where``; returns its python.

    Made by the real interpreter binary, not by ``sys.executable`` (in a venv that is a link,
    and a venv made from it would link its python through this venv's folder, which the
    sandbox does not mount). With ``inherit``, a ``.pth`` file lets it see this environment's
    packages (torch, numpy, pip, setuptools, ...) after its own: ``--system-site-packages``
    would show the *base* interpreter's packages instead, not those of a venv running the tests.
    """
    real = Path(sys.executable).resolve()
    subprocess.run([str(real), "-m", "venv", "--without-pip", str(where)], check=True, timeout=120,
                   env=clean_env())
    py = where / "bin" / "python"
    if inherit:
        purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True, env=clean_env()).stdout.strip()
        Path(purelib, "_tests_outer_environment.pth").write_text("\n".join(site_dirs()) + "\n")
    return py


def grade_command(bin_dir: Path) -> Path:
    """A ``grade`` command in ``bin_dir`` that runs the grader under test (this checkout with
    this interpreter), whatever ``grade`` the PATH would find; returns ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "grade"
    script.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" '
                      f'exec "{sys.executable}" -m grader.cli "$@"\n')
    script.chmod(0o755)
    return bin_dir


def path_without(program: str, tmp: Path, first: list[Path] | None = None) -> str:
    """A PATH on which ``program`` cannot be found: every other program of the current PATH is
    linked into one folder (used to run as on a machine without bubblewrap)."""
    farm = tmp / f"path-without-{program}"
    farm.mkdir(parents=True, exist_ok=True)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not Path(d).is_dir():
            continue
        for entry in Path(d).iterdir():
            target = farm / entry.name
            if entry.name == program or target.exists() or target.is_symlink():
                continue
            if entry.is_file() and os.access(entry, os.X_OK):
                target.symlink_to(entry)
    return os.pathsep.join([*(str(p) for p in first or []), str(farm)])


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def python_readable_by_others(tmp: Path) -> list[str]:
    """A command prefix under which this interpreter's installation is readable by other
    users, as in a Docker image (here it may sit under a closed /root): a private mount
    namespace with a traversable tmpfs over the closed folder and the installation bound back.
    [] when it already is; skips the test when that cannot be arranged."""
    import pytest

    home = Path(sys.base_prefix)
    closed = next((p for p in [*home.parents[::-1], home] if p != Path("/") and not os.stat(p).st_mode & 0o001),
                  None)
    if closed is None:
        return []
    if shutil.which("unshare") is None or os.getuid() != 0:
        pytest.skip("the Python installation is closed to other users and cannot be opened here")
    real = Path(tempfile.mkdtemp(prefix="real-", dir=tmp))
    inner = home.relative_to(closed).parts[0]
    script = (f'mount --bind {closed} {real} && mount -t tmpfs -o mode=0755 tmpfs {closed} && '
              f'mkdir -p {closed / inner} && mount --bind {real / inner} {closed / inner} && exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]


def open_to_others(path: Path) -> None:
    """Let other users traverse the folders above ``path`` (pytest's are 0700)."""
    for p in [path, *path.parents]:
        if p != Path("/") and p.exists():
            os.chmod(p, os.stat(p).st_mode | 0o711)
