"""`grade release OUT`: the student distribution holds no solution and no known mistake, installs
with a plain `pip install OUT` and grades in local mode: the reference scores full marks,
the untouched stubs zero. (Slow-ish: about half a minute; still in the default run.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.stubgen import BEGIN, END, make_stub
from tests.harness import ROOT, SOLUTIONS

pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(NO_COLOR="1", COLUMNS="200", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1")
    return env


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "student"
    # --no-verify: snapshot freshness is `grade check`'s business (tests/test_instructor.py)
    p = subprocess.run([sys.executable, "-m", "grader.cli", "release", str(out), "--no-verify"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


def solution_bodies() -> list[tuple[str, list[str]]]:
    """(file, the code lines of one solution region that the stub does not show anyway)."""
    out = []
    for sol in sorted(SOLUTIONS.glob("*.py")):
        source = sol.read_text(encoding="utf-8")
        shown = {s.strip() for s in make_stub(source).splitlines()}
        current = None
        for line in source.splitlines():
            if BEGIN.match(line):
                current = []
            elif END.match(line):
                body = [s for s in (x.strip() for x in current) if s and not s.startswith("#")]
                out.append((sol.name, [s for s in body if s not in shown]))
                current = None
            elif current is not None:
                current.append(line)
    return out


def test_layout(release):
    assert sorted(p.name for p in (release / "exercises").glob("*.py")) == sorted(
        p.name for p in SOLUTIONS.glob("*.py"))
    for sol in SOLUTIONS.glob("*.py"):
        assert (release / "exercises" / sol.name).read_text(encoding="utf-8") == make_stub(
            sol.read_text(encoding="utf-8"))
    assert not (release / "solutions").exists() and not (release / "mistakes").exists()
    assert not (release / "tests").exists()
    g = release / "grader"
    assert (g / "course" / "course.toml").is_file()
    assert sorted(p.name for p in (g / "course" / "snapshots").glob("*.snap")) == sorted(
        p.name for p in (ROOT / "grader" / "course" / "snapshots").glob("*.snap"))
    assert sorted(p.name for p in (g / "data").glob("*.npz")) == sorted(
        p.name for p in (ROOT / "grader" / "data").glob("*.npz"))
    assert not list((g / "data").glob("make_*.py")), "the data scripts import the reference"
    assert not (g / "stubgen.py").exists()
    assert "def register" in (g / "instructor.py").read_text() and "click.command" not in (
        g / "instructor.py").read_text()
    assert not list(release.rglob("__pycache__")) and not list(release.rglob("*.pyc"))
    readme = (release / "README.md").read_text(encoding="utf-8")
    for needle in ("pip install .", "grade hint", "--lang zh", "local mode"):
        assert needle in readme
    assert 'grade = "grader.cli:main"' in (release / "pyproject.toml").read_text()


def test_no_solution_or_mistake_leaks(release):
    bodies = solution_bodies()
    mistake_code = []
    for path in sorted((ROOT / "mistakes").glob("*/*.py")):
        text = path.read_text(encoding="utf-8")
        after_doc = text.split('"""', 2)[-1] if text.lstrip().startswith('"""') else text
        stub = make_stub((SOLUTIONS / f"{path.parent.name}.py").read_text(encoding="utf-8"))
        shown = {s.strip() for s in stub.splitlines()}  # e.g. a signature copied into the mistake
        lines = [s for s in (x.strip() for x in after_doc.splitlines())
                 if len(s) >= 30 and s not in shown and not s.startswith(("#", "import ", "from "))]
        mistake_code += [(path, s) for s in lines]
    files = [f for f in release.rglob("*") if f.is_file()]
    assert len(files) > 20
    for f in files:
        rel = f.relative_to(release)
        data = f.read_bytes()
        assert b"BEGIN SOLUTION" not in data and b"END SOLUTION" not in data, rel
        # only a placeholder in a docstring (``mistakes/<id>/<name>.py``) may name the folder
        assert not re.search(rb"mistakes/(?!<)", data), f"{rel} names a mistakes/ file"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # snapshots and data files: arrays and the mistakes' sentences, no code
        lines = [s for s in (x.strip() for x in text.splitlines()) if s and not s.startswith("#")]
        joined = "\n".join(lines)
        present = set(lines)
        for name, body in bodies:
            if len(body) >= 2:
                for a, b in zip(body, body[1:]):
                    assert f"{a}\n{b}" not in joined, f"{rel} holds the solution code of {name}: {a} / {b}"
            for s in body:
                assert len(s) < 30 or s not in present, f"{rel} holds the solution code of {name}: {s}"
        for path, s in mistake_code:
            assert s not in present, f"{rel} holds the code of {path.parent.name}/{path.name}: {s}"


def _venv_parent(tmp_path: Path) -> Path:
    """Where to put the test's virtual environment. Not under /tmp when bubblewrap runs the
    workers: the sandbox mounts a fresh /tmp, which would hide the venv's interpreter."""
    from grader.host.sandbox import bwrap_works

    if bwrap_works():
        base = Path.home() / ".cache" / "transformer-grader"
        try:
            base.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="test-venv-", dir=base))
        except OSError:
            pass
    return tmp_path


def test_installs_and_grades_in_local_mode(release, tmp_path):
    parent = _venv_parent(tmp_path)
    try:
        venv = parent / "venv"
        env = clean_env()
        # --system-site-packages: torch, numpy, hypothesis, rich, click come from this Python;
        # --without-pip: this Python's pip installs into the venv, nothing is downloaded
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                       check=True, timeout=120)
        py = venv / "bin" / "python"
        p = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                            str(release)], capture_output=True, text=True, timeout=300, env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        where = subprocess.run([str(py), "-c", "import grader; print(grader.__file__)"], cwd=parent,
                               capture_output=True, text=True, env=env, check=True).stdout.strip()
        assert Path(where).resolve().is_relative_to(venv.resolve()), f"grader imported from {where}"

        def grade(folder: Path) -> dict:
            out = folder / "r.json"
            q = subprocess.run([str(venv / "bin" / "grade"), "masking", "--format", "json", "--output", str(out)],
                               cwd=folder, capture_output=True, text=True, timeout=300, env=env)
            assert q.returncode == 0, q.stdout + q.stderr
            return json.loads(out.read_text())

        solved = tmp_path / "solved"
        shutil.copytree(release, solved)
        shutil.copy(SOLUTIONS / "masking.py", solved / "exercises" / "masking.py")
        doc = grade(solved)
        assert doc["mode"] == "local"
        assert doc["score"] == doc["max_score"] > 0, [
            (c["name"], c["message"]) for e in doc["exercises"] for c in e["checks"] if c["status"] != "passed"]

        doc = grade(release)
        assert doc["mode"] == "local" and doc["score"] == 0 and doc["max_score"] > 0
        assert all(c["status"] != "passed" for e in doc["exercises"] for c in e["checks"])
        assert not doc.get("grader_errors")
    finally:
        if parent != tmp_path:
            shutil.rmtree(parent, ignore_errors=True)
