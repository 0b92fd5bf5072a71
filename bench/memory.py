"""Memory benchmark: the peak memory of `grade`'s whole process tree (the grading process, the
zygote, every worker, bubblewrap) while it grades the course in official mode, as Gradescope
runs it. Gradescope's container has 768 MB by default; what counts there is memory the tree
holds once, which PSS measures (a page shared by the zygote and its forked workers counts
once, split between them); the RSS sum counts shared pages again in every process.

    python bench/memory.py [--jobs 1 2] [--submission correct mistakes] [--exercise ID ...]

`correct` is the reference; `mistakes` is the reference with a known mistake in every
exercise (the report names each mistake, which replays the check on the known mistakes in
workers of their own: the heaviest case). Prints one row per run: peak PSS sum, peak RSS sum,
the most processes at once, and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant (from /proc: no dependency)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in bytes, from /proc/PID/smaps_rollup."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return pss, rss


def measure(cmd: list[str], interval: float = 0.05) -> dict[str, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"NO_COLOR": "1"})
    peak_pss = peak_rss = peak_n = 0
    while proc.poll() is None:
        pids = tree(proc.pid)
        sums = [memory(p) for p in pids]
        peak_pss = max(peak_pss, sum(s[0] for s in sums))
        peak_rss = max(peak_rss, sum(s[1] for s in sums))
        peak_n = max(peak_n, len(pids))
        time.sleep(interval)
    return {"pss": peak_pss / MiB, "rss": peak_rss / MiB, "procs": peak_n, "seconds": time.monotonic() - t0,
            "exit": proc.returncode}


def make_submission(kind: str, dest: Path) -> Path:
    """The reference, or the reference with one known mistake appended per exercise (the one
    registered against the most checks, so that the most replays run)."""
    sub = dest / kind
    sub.mkdir(parents=True)
    for f in (ROOT / "solutions").glob("*.py"):
        text = f.read_text(encoding="utf-8")
        if kind == "mistakes":
            from grader.metadata import mistake_info

            candidates = sorted((ROOT / "mistakes" / f.stem).glob("*.py"),
                                key=lambda m: (-len(mistake_info(m)["catches"]), m.name))
            if candidates:
                text += "\n\n# --- a known mistake ---\n" + candidates[0].read_text(encoding="utf-8")
        (sub / f.name).write_text(text, encoding="utf-8")
    return sub


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--submission", nargs="+", default=["correct", "mistakes"], choices=["correct", "mistakes"])
    ap.add_argument("--exercise", nargs="*", default=[], help="exercises to grade (default: the whole course)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        print(f"{'submission':<10} {'jobs':>4} {'peak PSS MiB':>13} {'peak RSS MiB':>13} {'procs':>6} "
              f"{'seconds':>8}   (official mode, {', '.join(args.exercise) or 'whole course'})", flush=True)
        for kind in args.submission:
            sub = make_submission(kind, tmp)
            for jobs in args.jobs:
                cmd = [sys.executable, "-m", "grader.cli", *args.exercise, "--submission", str(sub),
                       "--reference", str(ROOT / "solutions"), "--mode", "official", "--jobs", str(jobs),
                       "--format", "gradescope", "--output", str(tmp / "results.json")]
                r = measure(cmd)
                print(f"{kind:<10} {jobs:>4} {r['pss']:>13.0f} {r['rss']:>13.0f} {r['procs']:>6} "
                      f"{r['seconds']:>8.1f}" + ("" if r["exit"] == 0 else f"   exit {r['exit']}"), flush=True)
                if r["exit"] == 3:  # the grader's own error: say what it was
                    tests = json.loads((tmp / "results.json").read_text(encoding="utf-8")).get("tests", [])
                    errors = [t.get("output", "") for t in tests if "grader error" in t.get("output", "")]
                    print("    " + (errors[0] if errors else "no results").replace("\n", "\n    "), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
