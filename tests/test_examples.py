"""The example CI files run the commands they contain."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.envs import grade_command
from tests.harness import ROOT, submission_from_reference

EXAMPLES = ROOT / "examples"


def run_block(workflow: Path, step: str) -> str:
    """The `run: |` block of a named step in a GitHub Actions workflow (no YAML library needed)."""
    text = workflow.read_text()
    m = re.search(rf"- name: {re.escape(step)}\n(?:.*\n)*?\s+run: \|\n((?:\s{{10}}.*\n)+)", text)
    assert m, f"no run block for step {step!r}"
    return "\n".join(line[10:] for line in m.group(1).splitlines())


def step_env(workflow: Path, step: str) -> dict[str, str]:
    text = workflow.read_text()
    m = re.search(rf"- name: {re.escape(step)}\n\s+env:\n((?:\s{{10}}\w+: .*\n)+)", text)
    return dict(line.strip().split(": ", 1) for line in m.group(1).splitlines()) if m else {}


def test_github_actions_grade_step(tmp_path):
    course = tmp_path / "student"
    sub = submission_from_reference(tmp_path / "s")
    shutil.copytree(sub, course / "exercises")
    summary = tmp_path / "summary.md"
    env = os.environ | step_env(EXAMPLES / "github-actions.yml", "Grade") | {
        "GITHUB_STEP_SUMMARY": str(summary), "NO_COLOR": "1",
        "PATH": f"{grade_command(tmp_path / 'bin')}:{os.environ['PATH']}"}
    script = run_block(EXAMPLES / "github-actions.yml", "Grade")
    if "--require-sandbox" in script and shutil.which("bwrap") is None:
        script = script.replace("--require-sandbox", "")
    script = script.replace("grade ", "grade masking --mode local ")
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=course, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    reports = course / "reports"
    for name in ("report.json", "junit.xml", "summary.md", "report.html"):
        assert (reports / name).exists(), name
    assert "masking" in summary.read_text()
    assert json.loads((reports / "gate.json").read_text())["score"] > 0
