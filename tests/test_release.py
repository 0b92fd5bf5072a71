"""`grade release OUT`: the student distribution holds no solution and no known mistake, installs
with a plain `pip install OUT` and grades in local mode: the reference scores full marks,
the untouched stubs zero. (Slow-ish: about half a minute; still in the default run.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.stubgen import BEGIN, END, make_stub
from tests.envs import clean_env, make_venv, rmtree, venv_parent
from tests.harness import ROOT, SOLUTIONS

pytestmark = pytest.mark.slow


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
                    if len(a) + len(b) < 20:  # "}" then "return {": punctuation any code has
                        continue
                    assert f"{a}\n{b}" not in joined, f"{rel} holds the solution code of {name}: {a} / {b}"
            for s in body:
                assert len(s) < 30 or s not in present, f"{rel} holds the solution code of {name}: {s}"
        for path, s in mistake_code:
            assert s not in present, f"{rel} holds the code of {path.parent.name}/{path.name}: {s}"


def test_installs_and_grades_in_local_mode(release, tmp_path):
    pytest.importorskip("flit_core", reason="the release builds with flit_core: pip install -e '.[dev]'")
    parent = venv_parent(tmp_path)
    try:
        env = clean_env()
        py = make_venv(parent / "venv")  # this environment's torch, numpy, pip, flit_core
        before = sorted(p.name for p in release.iterdir())
        p = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                            str(release)], capture_output=True, text=True, timeout=300, env=env, cwd=release)
        assert p.returncode == 0, p.stdout + p.stderr
        assert sorted(p.name for p in release.iterdir()) == before, "pip install . left files beside the exercises"
        where = subprocess.run([str(py), "-c", "import grader; print(grader.__file__)"], cwd=parent,
                               capture_output=True, text=True, env=env, check=True).stdout.strip()
        assert Path(where).resolve().is_relative_to((parent / "venv").resolve()), f"grader imported from {where}"
        installed = Path(where).parent
        shipped = {f.relative_to(release / "grader") for f in (release / "grader").rglob("*") if f.is_file()}
        missing = [str(f) for f in shipped if not (installed / f).is_file()]
        assert not missing, f"the installed release lacks {missing}"

        def grade(folder: Path, *extra: str) -> subprocess.CompletedProcess:
            q = subprocess.run([str(parent / "venv" / "bin" / "grade"), "masking", *extra],
                               cwd=folder, capture_output=True, text=True, timeout=300, env=env)
            assert q.returncode == 0, q.stdout + q.stderr
            return q

        def graded(folder: Path) -> dict:
            grade(folder, "--format", "json", "--output", str(folder / "r.json"))
            return json.loads((folder / "r.json").read_text())

        solved = tmp_path / "solved"
        shutil.copytree(release, solved)
        shutil.copy(SOLUTIONS / "masking.py", solved / "exercises" / "masking.py")
        doc = graded(solved)
        assert doc["mode"] == "local"
        assert doc["score"] == doc["max_score"] > 0, [
            (c["name"], c["message"]) for e in doc["exercises"] for c in e["checks"] if c["status"] != "passed"]

        doc = graded(release)
        assert doc["mode"] == "local" and doc["score"] == 0 and doc["max_score"] > 0
        assert all(c["status"] != "passed" for e in doc["exercises"] for c in e["checks"])
        assert not doc.get("grader_errors")

        # both languages, from the installed catalogs (grader/course/i18n/*.toml)
        wrong = tmp_path / "wrong"
        shutil.copytree(release, wrong)
        mistake = (ROOT / "mistakes" / "masking" / "combine_or.py").read_text(encoding="utf-8")
        (wrong / "exercises" / "masking.py").write_text(
            (SOLUTIONS / "masking.py").read_text(encoding="utf-8") + "\n\n" + mistake, encoding="utf-8")
        en = grade(wrong, "--lang", "en").stdout
        zh = grade(wrong, "--lang", "zh").stdout
        assert "combine_masks is not the broadcast logical AND of its masks" in en, en
        assert "combine_masks 的结果不是各个掩码广播后的逻辑与（AND）" in zh, zh
        for folder in (solved, release, wrong):
            left = [p.name for p in folder.iterdir() if p.name.startswith(".")]
            assert not left, f"grading left {left} in {folder.name}"
    finally:
        if parent != tmp_path:
            rmtree(parent)


def _checkout_copy(dest: Path) -> Path:
    """The files of this checkout that git would commit (tracked or new, not ignored)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a checkout to list the project's files")
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_build_sdist_and_wheel_install_and_grade(tmp_path):
    """`python -m build` makes an sdist and a wheel holding every file of grader/ (the
    catalogs, snapshots and data the grader reads); each installs and grades."""
    pytest.importorskip("build", reason="needs the dev extra (python -m build)")
    pytest.importorskip("setuptools", reason="needs the dev extra (setuptools)")
    import tarfile
    import zipfile

    src = _checkout_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    p = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)],
                       capture_output=True, text=True, timeout=600, env=clean_env())
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    tree = {str(f.relative_to(src)) for f in (src / "grader").rglob("*") if f.is_file()}
    in_wheel = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("grader/")}
    assert tree == in_wheel, f"missing from the wheel: {sorted(tree - in_wheel)}; extra: {sorted(in_wheel - tree)}"
    with tarfile.open(sdist) as tf:
        in_sdist = {n.split("/", 1)[1] for n in tf.getnames() if "/grader/" in n and not n.endswith("/")}
    assert tree <= in_sdist, f"missing from the sdist: {sorted(tree - in_sdist)}"

    parent = venv_parent(tmp_path)
    try:
        for name, artifact in (("wheel", wheel), ("sdist", sdist)):
            py = make_venv(parent / name)
            q = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                                str(artifact)], capture_output=True, text=True, timeout=300, env=clean_env())
            assert q.returncode == 0, q.stdout + q.stderr
            course = tmp_path / f"course-{name}"
            shutil.copytree(ROOT / "exercises", course / "exercises")
            shutil.copy(SOLUTIONS / "masking.py", course / "exercises" / "masking.py")
            out = course / "r.json"
            q = subprocess.run([str(parent / name / "bin" / "grade"), "masking", "positional", "--lang", "zh",
                                "--format", "json", "--output", str(out)],
                               cwd=course, capture_output=True, text=True, timeout=300, env=clean_env())
            assert q.returncode == 0, q.stdout + q.stderr
            doc = json.loads(out.read_text())
            scores = {e["id"]: (e["score"], e["max_score"]) for e in doc["exercises"]}
            assert scores["masking"][0] == scores["masking"][1] > 0, (name, scores)
            assert scores["positional"][0] == 0 < scores["positional"][1], (name, scores)
            assert doc["mode"] == "local" and not doc["grader_errors"]
    finally:
        if parent != tmp_path:
            rmtree(parent)
