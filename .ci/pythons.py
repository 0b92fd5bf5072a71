"""The oldest and the newest Python this machine has (pyenv's, or python3.X on the PATH):
install the grader's wheel in a virtual environment of each and smoke-grade there: the
reference in official mode (full marks), the stubs in local mode (zero), a report in Chinese,
and Ctrl-C in watch mode (no traceback).

    python3 .ci/pythons.py            # exit 0 when every interpreter passed (or none is found)

torch==2.13.0 is a local CPU wheel for Python 3.11 only; for the others the same pin brings
the CUDA build from the package index (about 5 GB, a minute or two here), so each venv is
kept in ~/.cache/transformer-grader/ci-pythons/ and reused: pip then finds torch installed.
The grader itself is rebuilt and reinstalled every run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("GRADER_CI_PYTHONS", Path.home() / ".cache" / "transformer-grader" / "ci-pythons"))
SMOKE = ["attention", "masking", "lora"]  # official mode on the reference: each a few seconds
TORCH = "torch==2.13.0"


def log(msg: str) -> None:
    print(f"[pythons {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def interpreters() -> dict[tuple[int, int], Path]:
    """Python >= 3.10 interpreters by version: pyenv's versions, then python3.X on the PATH."""
    found: dict[tuple[int, int], Path] = {}
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for d in sorted((pyenv_root / "versions").glob("3.*")):
        m = re.fullmatch(r"3\.(\d+)\.\d+", d.name)
        exe = d / "bin" / "python3"
        if m and int(m.group(1)) >= 10 and exe.exists():
            found.setdefault((3, int(m.group(1))), exe)
    for minor in range(10, 20):
        exe = shutil.which(f"python3.{minor}")
        if exe and (3, minor) not in found:
            found[(3, minor)] = Path(exe).resolve()
    return found


def run(cmd: list, timeout: float = 1800, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env |= {"NO_COLOR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **kw.pop("env", {})}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env, **kw)


def need(p: subprocess.CompletedProcess, what: str) -> None:
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


def build_wheel(tmp: Path) -> Path:
    """The project's wheel, built from a copy of the files git would commit."""
    src = tmp / "src"
    names = run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]).stdout
    for name in filter(None, names.split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    p = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp / "dist", src])
    need(p, "building the wheel")
    (wheel,) = (tmp / "dist").glob("*.whl")
    return wheel


def smoke(version: tuple[int, int], exe: Path, wheel: Path, tmp: Path) -> list[str]:
    """Problems found with this interpreter (empty: it passed)."""
    name = f"py{version[0]}{version[1]}"
    venv = CACHE / name
    py = venv / "bin" / "python"
    t0 = time.monotonic()
    if not py.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        need(run([exe, "-m", "venv", venv]), f"{name}: python -m venv")
    log(f"{name}: installing {TORCH} and the grader ({exe})")
    need(run([py, "-m", "pip", "install", "-q", TORCH, "pytest"], timeout=3600), f"{name}: pip install torch")
    need(run([py, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", wheel]), f"{name}: the wheel")
    need(run([py, "-m", "pip", "install", "-q", wheel]), f"{name}: the wheel's dependencies")
    log(f"{name}: installed in {time.monotonic() - t0:.0f} s")
    problems = []
    work = tmp / name
    grade = venv / "bin" / "grade"

    def graded(folder: Path, *extra: str) -> dict:
        out = work / f"{folder.name}.json"
        p = run([grade, *extra, "--submission", folder, "--format", "json", "--output", out], cwd=work)
        need(p, f"{name}: grade {' '.join(map(str, extra))}")
        return json.loads(out.read_text())

    ref = work / "reference"
    shutil.copytree(ROOT / "solutions", ref)
    doc = graded(ref, *SMOKE, "--reference", ROOT / "solutions", "--mode", "official")
    if not (doc["score"] == doc["max_score"] > 0) or doc["grader_errors"]:
        problems.append(f"{name}: the reference scored {doc['score']}/{doc['max_score']} {doc['grader_errors']}")
    if doc["versions"]["python"].rsplit(".", 1)[0] != f"{version[0]}.{version[1]}":
        problems.append(f"{name}: graded with Python {doc['versions']['python']}")
    stubs = work / "stubs"
    shutil.copytree(ROOT / "exercises", stubs)
    doc = graded(stubs, "--mode", "local")
    if doc["score"] != 0 or doc["max_score"] <= 0 or doc["grader_errors"]:
        problems.append(f"{name}: the stubs scored {doc['score']}/{doc['max_score']} {doc['grader_errors']}")
    wrong = work / "wrong"  # a known mistake, reported in Chinese from the installed catalogs
    shutil.copytree(ROOT / "solutions", wrong)
    with open(wrong / "masking.py", "a", encoding="utf-8") as f:
        f.write("\n\n" + (ROOT / "mistakes" / "masking" / "combine_or.py").read_text(encoding="utf-8"))
    p = run([grade, "masking", "--mode", "local", "--submission", wrong, "--lang", "zh"], cwd=work)
    if p.returncode != 0 or "combine_masks 的结果不是各个掩码广播后的逻辑与（AND）" not in p.stdout:
        problems.append(f"{name}: the Chinese report: {p.stdout[-800:]} {p.stderr[-500:]}")
    problems += ctrl_c(name, grade, stubs, work)
    log(f"{name}: {'passed' if not problems else 'FAILED'} in {time.monotonic() - t0:.0f} s")
    return problems


def ctrl_c(name: str, grade: Path, stubs: Path, work: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([str(grade), "masking", "--mode", "local", "--watch", "--submission", str(stubs)], cwd=work,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        lines.append(line)
        if "watching" in line or not line:
            break
    p.send_signal(signal.SIGINT)
    try:
        rest, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        return [f"{name}: watch mode did not stop on Ctrl-C"]
    if p.returncode != 0 or "Traceback" in rest or "stopped" not in rest:
        return [f"{name}: Ctrl-C in watch mode: exit {p.returncode}\n{''.join(lines)[-1000:]}{rest[-2000:]}"]
    return []


def main() -> int:
    found = interpreters()
    if len(found) < 2:
        log(f"only {sorted(found)} found: need two Pythons >= 3.10 (pyenv versions); nothing to do")
        return 0
    chosen = {v: found[v] for v in (min(found), max(found))}
    log(f"oldest and newest: {', '.join(f'{a}.{b}' for a, b in chosen)} (of {', '.join(f'{a}.{b}' for a, b in found)})")
    with tempfile.TemporaryDirectory(prefix="ci-pythons-") as t:
        tmp = Path(t)
        wheel = build_wheel(tmp)
        problems: list[str] = []
        for version, exe in chosen.items():
            (tmp / f"py{version[0]}{version[1]}").mkdir()
            try:
                problems += smoke(version, exe, wheel, tmp)
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                problems.append(str(err))
    for p in problems:
        log(f"✗ {p}")
    bad = sorted({p.split(":")[0] for p in problems})
    names = ", ".join(f"{a}.{b}" for a, b in chosen)
    log(f"Pythons {names}: " + ("all smoke grades passed" if not bad else f"FAILED on {', '.join(bad)}"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
