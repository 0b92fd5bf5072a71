"""Gradescope end to end: examples/gradescope/setup.sh and run_autograder in a fake /autograder.

As Gradescope does it: the course folder (with setup.sh and run_autograder at its top) is
unpacked in source/; setup.sh's install steps run (all but apt-get: GRADER_SETUP_APT=0; in a
venv that sees the test environment's torch, so that pip finds it installed); then, for each
submission, submission/ is filled (flat, in exercises/, in a repository's folder, unpacked
from a zip) and run_autograder runs as
root with no bubblewrap (a PATH on which `bwrap` is missing: Gradescope's containers allow no
namespaces, so there bubblewrap could not run even if installed). results.json is checked
against Gradescope's specification (gradescope-autograders.readthedocs.io, "Autograder
Specifications": top-level and per-test keys, visibility and format values).

The grader must never grade there at a level where student code can read the reference: it
grades at the uid level or refuses with a results.json that says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.envs import make_venv, path_without
from tests.harness import MISTAKES, ROOT, submission_from_reference
from tests.test_release import _checkout_copy

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "gradescope"

# Switch on when the uid sandbox level lands (grader/sandbox.py): then, without bubblewrap,
# run_autograder must grade at the uid level instead of refusing.
UID_LEVEL_LANDED = True

VISIBILITY = {"visible", "hidden", "after_due_date", "after_published"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
             "tags", "visibility", "extra_data"}


def check_spec(doc: dict) -> None:
    """results.json as Gradescope's specification describes it."""
    assert isinstance(doc, dict) and set(doc) <= TOP_KEYS, set(doc) - TOP_KEYS
    tests = doc.get("tests", [])
    assert isinstance(tests, list)
    assert "score" in doc or all("score" in t for t in tests), "a score at the top or on every test"
    if "score" in doc:
        assert isinstance(doc["score"], (int, float)) and doc["score"] >= 0
    if "execution_time" in doc:
        assert isinstance(doc["execution_time"], (int, float))
    for key in ("output", "output_format", "test_output_format", "test_name_format", "visibility",
                "stdout_visibility"):
        assert isinstance(doc.get(key, ""), str), key
    for key in ("visibility", "stdout_visibility"):
        assert doc.get(key, "visible") in VISIBILITY, key
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert doc.get(key, "text") in FORMATS, key
    assert isinstance(doc.get("extra_data", {}), dict)
    for t in tests:
        assert isinstance(t, dict) and set(t) <= TEST_KEYS, set(t) - TEST_KEYS
        for key in ("score", "max_score"):
            if key in t:
                assert isinstance(t[key], (int, float)) and t[key] >= 0, (key, t)
        if "score" in t and "max_score" in t:
            assert t["score"] <= t["max_score"], t
        assert t.get("status", "passed") in ("passed", "failed"), t
        for key in ("name", "number", "output"):
            assert isinstance(t.get(key, ""), str), (key, t)
        assert t.get("visibility", "visible") in VISIBILITY and t.get("output_format", "text") in FORMATS
        assert t.get("name_format", "text") in FORMATS
        assert all(isinstance(tag, str) for tag in t.get("tags", []))
    json.dumps(doc, allow_nan=False)  # Gradescope's parser takes no NaN


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    """A fake /autograder after setup.sh ran: source/ (the zip's contents) and venv/."""
    root = tmp_path_factory.mktemp("gradescope") / "autograder"
    source = _checkout_copy(root / "source")
    for name in ("setup.sh", "run_autograder"):
        shutil.copy2(EXAMPLE / name, source / name)
    # The venv setup.sh makes, made first so that it sees the packages of the environment
    # running the tests (torch: pip then finds it installed); setup.sh's `python3 -m venv`
    # runs on it as on a new folder, and its pip commands as written.
    make_venv(root / "venv")
    bin_dir = root.parent / "bin"  # `python3` is this interpreter (the image's python3)
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{Path(sys.executable).resolve()}" "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_NO_INDEX")}
    env |= {"AUTOGRADER": str(root), "GRADER_SETUP_APT": "0", "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_RETRIES": "0"}  # download.pytorch.org is out of reach here: on to the next index at once
    p = subprocess.run(["bash", str(source / "setup.sh")], cwd=root, env=env, capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    where = subprocess.run([str(root / "venv" / "bin" / "python"), "-c", "import grader; print(grader.__file__)"],
                           cwd=root, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(root / "venv"), f"the image's grader is {where}, not the installed one"
    return root


def run_autograder(root: Path, tmp: Path, with_bwrap: bool = False, flags: str = "masking") -> dict:
    """Gradescope's run: as root, in /autograder, here without bubblewrap on the PATH."""
    (root / "results").mkdir(exist_ok=True)
    (root / "results" / "results.json").unlink(missing_ok=True)
    path = os.environ["PATH"] if with_bwrap else path_without("bwrap", tmp)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"AUTOGRADER": str(root), "PATH": path, "GRADER_FLAGS": flags, "NO_COLOR": "1"}
    prefix: list[str] = []
    if not with_bwrap and UID_LEVEL_LANDED:  # a Docker image: its Python is readable by every user
        from tests.envs import open_to_others, python_readable_by_others

        prefix = python_readable_by_others(tmp)
        open_to_others(root / "venv")
    p = subprocess.run([*prefix, "bash", str(root / "source" / "run_autograder")], cwd=root, env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    check_spec(doc)
    return doc


def fill_submission(root: Path, tmp: Path, kind: str) -> None:
    """submission/ as Gradescope fills it: the student's files, in the student's shape."""
    sub = root / "submission"
    shutil.rmtree(sub, ignore_errors=True)
    mistake = (MISTAKES / "masking" / "combine_or.py").read_text(encoding="utf-8")
    files = submission_from_reference(tmp / f"files-{kind}", {"masking": mistake})
    if kind == "flat":
        shutil.copytree(files, sub)
    elif kind == "exercises":  # a GitHub repository's contents
        shutil.copytree(files, sub / "exercises")
        (sub / "README.md").write_text("my course work\n")
    elif kind == "repo":  # a folder uploaded whole
        shutil.copytree(files, sub / "transformers-course-alice" / "exercises")
        (sub / "transformers-course-alice" / "README.md").write_text("my course work\n")
    elif kind == "zip":  # a zip of the repository's folder, as Gradescope unpacks it
        archive = tmp / "upload.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for f in files.glob("*.py"):
                zf.write(f, f"course-main/exercises/{f.name}")
            zf.writestr("__MACOSX/course-main/._README.md", b"\0\5\26\7")
            zf.writestr("course-main/README.md", "my course work\n")
        sub.mkdir()
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(sub)
    else:
        raise ValueError(kind)


def expect_graded(doc: dict, sandbox: str) -> None:
    """The masking reference with the OR mistake: graded, some checks lost, the mistake named."""
    tests = doc["tests"]
    assert doc["extra_data"]["sandbox"] == sandbox, doc["extra_data"]
    assert doc["extra_data"]["mode"] == "official"
    assert 0 < doc["score"] < sum(t["max_score"] for t in tests), doc["output"]
    failed = [t for t in tests if t["status"] == "failed"]
    assert failed and all(t["score"] == 0 for t in failed)
    assert any("AND" in t["output"] for t in failed), [t["output"] for t in failed]
    assert doc["stdout_visibility"] == "hidden"


@pytest.mark.parametrize("kind", ["flat", "exercises", "repo", "zip"])
def test_run_autograder(autograder, tmp_path, kind):
    fill_submission(autograder, tmp_path, kind)
    doc = run_autograder(autograder, tmp_path)
    if doc["extra_data"].get("sandbox") == "uid":
        expect_graded(doc, "uid")
    else:
        # Today (no uid level yet) the grader refuses without bubblewrap, and says why.
        assert not UID_LEVEL_LANDED, "without bubblewrap run_autograder must grade at the uid level"
        assert doc["score"] == 0 and "refused to grade" in doc["output"], doc["output"]
        assert any(t["status"] == "failed" and "refused to grade" in t["output"] for t in doc["tests"])
        from grader.host.sandbox import bwrap_works

        if not bwrap_works():
            pytest.skip("the uid level has not landed and bubblewrap cannot run here: nothing graded")
        # The same run where bubblewrap works proves the rest of the path (layout, official mode).
        expect_graded(run_autograder(autograder, tmp_path, with_bwrap=True), "bwrap")


def test_run_autograder_without_modules(autograder, tmp_path):
    sub = autograder / "submission"
    shutil.rmtree(sub, ignore_errors=True)
    (sub / "attention").mkdir(parents=True)
    (sub / "attention" / "answer.txt").write_text("42\n")
    doc = run_autograder(autograder, tmp_path, with_bwrap=True)
    assert doc["score"] == 0
    if "refused to grade" not in doc["output"]:
        assert "No exercise module was found" in doc["output"] and "attention/ (answer.txt)" in doc["output"]
        assert [t["name"] for t in doc["tests"]] == ["Submission: not graded"]


def test_run_autograder_with_a_broken_image(tmp_path):
    """No venv at all (setup failed): run_autograder still leaves a valid results.json."""
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    shutil.copy2(EXAMPLE / "run_autograder", root / "source" / "run_autograder")
    (root / "submission").mkdir()
    env = {**os.environ, "AUTOGRADER": str(root)}
    p = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    check_spec(doc)
    assert doc["score"] == 0 and "could not grade" in doc["output"]


def test_results_json_of_a_refusal_passes_the_spec(tmp_path):
    """The error report the grader writes itself (no venv needed): valid, score 0, visible."""
    from grader.discover import not_graded
    from grader.formats import gradescope
    from grader.metadata import load_exercises

    doc = gradescope(not_graded(load_exercises(), mode="official", seed=0, sandbox="none",
                                error="The grader could not grade this submission: refused to grade: x"))
    check_spec(doc)
    assert doc["score"] == 0 and doc["visibility"] == "visible" and "refused to grade" in doc["output"]
