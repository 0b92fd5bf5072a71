"""examples/github-actions.yml, run as GitHub would run it: each step's commands, as written,
in a copy of a student's repository (the student release), in a temporary folder.

`uses:` steps are emulated: actions/checkout is the copy; actions/setup-python is a fresh
virtual environment of the requested Python on the PATH (one that sees the packages of the
environment running the tests, torch among them, so pip finds torch installed instead of
downloading it); actions/upload-artifact checks that
its path exists. `${{ vars.NAME || 'default' }}` is the only expression form evaluated: the
workflow uses no other. (examples/gradescope is run by tests/test_gradescope.py.)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.envs import clean_env, make_venv, rmtree, venv_parent
from tests.harness import ROOT, SOLUTIONS

pytestmark = pytest.mark.slow
yaml = pytest.importorskip("yaml", reason="the workflow is read with PyYAML (the dev extra)")

WORKFLOW = ROOT / "examples" / "github-actions.yml"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(value: str, variables: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        expr = m.group(1)
        m2 = re.fullmatch(r"vars\.(\w+)(?:\s*\|\|\s*'([^']*)')?", expr)
        assert m2, f"the test evaluates only vars.NAME || 'default', not {expr!r}"
        return variables.get(m2.group(1)) or (m2.group(2) or "")

    return EXPR.sub(one, str(value))


def run_workflow(repo: Path, tmp: Path, variables: dict[str, str], env_override: dict[str, str] | None = None
                 ) -> dict:
    """Run the job's steps in order in a copy of ``repo``; stops at the first failing step
    (later ``if: always()`` steps still run), as GitHub does."""
    doc = yaml.safe_load(WORKFLOW.read_text())
    (job,) = doc["jobs"].values()
    work = tmp / "workspace"
    summary = tmp / "step_summary.md"
    summary.write_text("")
    env = clean_env(GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(work), CI="true",
                    GITHUB_ACTIONS="true")
    env.pop("PIP_NO_INDEX")  # the runner reaches the package index
    env["PIP_RETRIES"] = "0"  # download.pytorch.org is out of reach here: fail over to the next index at once
    for scope in (doc.get("env") or {}, job.get("env") or {}):
        env.update({k: evaluate(v, variables) for k, v in scope.items()})
    env.update(env_override or {})
    failed = None
    runs: list[tuple[str, subprocess.CompletedProcess]] = []
    for step in job["steps"]:
        if failed is not None and step.get("if") != "always()":
            continue
        step_env = env | {k: evaluate(v, variables) for k, v in (step.get("env") or {}).items()}
        uses = step.get("uses", "").split("@")[0]
        if uses == "actions/checkout":
            shutil.copytree(repo, work)
        elif uses == "actions/setup-python":
            want = str(step["with"]["python-version"])
            have = f"{sys.version_info.major}.{sys.version_info.minor}"
            if want != have:
                pytest.skip(f"the workflow asks for Python {want}; this test runs on {have}")
            # this interpreter, seeing this environment's packages (torch, pip) behind its own
            venv = make_venv(tmp / "hostedtoolcache-python").parent.parent
            env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
        elif uses == "actions/upload-artifact":
            assert (work / step["with"]["path"]).exists(), f"nothing to upload at {step['with']['path']}"
        elif uses:
            raise AssertionError(f"the test does not emulate {uses}")
        else:
            p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=work,
                               env=step_env, capture_output=True, text=True, timeout=900)
            runs.append((step["name"], p))
            if p.returncode != 0:
                failed = step["name"]
    return {"failed": failed, "runs": runs, "work": work, "summary": summary.read_text()}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A student's repository: the release, with masking solved."""
    out = tmp_path_factory.mktemp("gha") / "student-repo"
    p = subprocess.run([sys.executable, "-m", "grader.cli", "release", str(out), "--no-verify"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    shutil.copy(SOLUTIONS / "masking.py", out / "exercises" / "masking.py")
    return out


def test_workflow_is_runnable_on_a_hosted_runner():
    doc = yaml.safe_load(WORKFLOW.read_text())
    (job,) = doc["jobs"].values()
    scripts = [s.get("run", "") for s in job["steps"]]
    text = "\n".join(scripts)
    assert "--require-sandbox" not in text, "bubblewrap cannot run on ubuntu-24.04 runners (AppArmor)"
    for i, script in enumerate(scripts):
        if "apt-get install" in script:
            before = "\n".join(scripts[:i]) + script.split("apt-get install")[0]
            assert "apt-get update" in before, "apt-get install needs apt-get update first on a fresh runner"
    assert "transformer-grader\"" not in text and "install transformer-grader" not in text, \
        "the course's grader is not on the package index: install it from the course's release"
    assert job["runs-on"] == "ubuntu-24.04"


def _grade_run(result: dict) -> subprocess.CompletedProcess:
    return dict(result["runs"])["Grade"]


def test_workflow_installs_the_release_in_the_repository(release, tmp_path):
    """No variable set: the grader shipped in the student's repository; the pass mark fails
    the job (one exercise of thirteen solved) and the report is still uploaded."""
    parent = venv_parent(tmp_path)
    try:
        result = run_workflow(release, parent, variables={})
        install = dict(result["runs"])["Install"]
        assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
        grade = _grade_run(result)
        assert result["failed"] == "Grade" and grade.returncode == 1, grade.stdout + grade.stderr
        reports = result["work"] / "reports"
        for name in ("report.json", "junit.xml", "summary.md", "report.html"):
            assert (reports / name).exists(), name
        doc = json.loads((reports / "report.json").read_text())
        assert doc["mode"] == "local" and doc["sandbox"] in ("process", "bwrap", "uid")
        scores = {e["id"]: e["score"] for e in doc["exercises"]}
        assert scores["masking"] == 12 and sum(scores.values()) == 12, scores
        assert "masking" in result["summary"]
        assert not (result["work"] / "build").exists() and not list(result["work"].glob("*.egg-info"))
    finally:
        if parent != tmp_path:
            rmtree(parent)


def test_workflow_installs_the_course_wheel(release, tmp_path):
    """GRADER_PACKAGE set once (the organisation's variable): the course's wheel is installed."""
    pytest.importorskip("flit_core", reason="the release's wheel builds with flit_core (the dev extra)")
    dist = tmp_path / "dist"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist),
                        str(release)], capture_output=True, text=True, timeout=300, env=clean_env())
    assert p.returncode == 0, p.stdout + p.stderr
    (wheel,) = dist.glob("*.whl")
    repo = tmp_path / "repo"
    shutil.copytree(release / "exercises", repo / "exercises")  # a repository with the exercises only
    parent = venv_parent(tmp_path)
    try:
        result = run_workflow(repo, parent, variables={"GRADER_PACKAGE": f"transformer-grader @ {wheel.as_uri()}"},
                              env_override={"PASS_MARK": "2"})  # 12 points of the course: ~3 %
        assert result["failed"] is None, [(n, r.stdout[-2000:] + r.stderr[-2000:]) for n, r in result["runs"]]
        doc = json.loads((result["work"] / "reports" / "report.json").read_text())
        assert doc["score"] == 12 and doc["mode"] == "local"
        where = subprocess.run([str(parent / "hostedtoolcache-python" / "bin" / "python"), "-c",
                                "import grader; print(grader.__file__)"], cwd=parent, capture_output=True,
                               text=True, env=clean_env(), check=True).stdout
        assert "hostedtoolcache-python" in where, where
    finally:
        if parent != tmp_path:
            rmtree(parent)


def test_run_blocks_use_only_what_exists():
    """Every program a run block calls is one the runner has or the job installs."""
    doc = yaml.safe_load(WORKFLOW.read_text())
    (job,) = doc["jobs"].values()
    for step in job["steps"]:
        for line in step.get("run", "").splitlines():
            line = line.strip()
            if not line or line.startswith("#") or line.startswith("--"):
                continue
            program = line.split()[0]
            assert program in ("python", "grade"), f"{step['name']}: {program}"
