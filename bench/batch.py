"""Batch benchmark: `grade batch` of N submissions with --jobs J against N sequential `grade` runs.

    python bench/batch.py [--n 10] [--jobs 2] [--exercise attention ...]

The submissions are the reference with a different known mistake each (so grading does real
work: failures, diagnoses). Prints both wall times and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_submissions(n: int, dest: Path) -> list[Path]:
    mistakes = sorted((ROOT / "mistakes").glob("*/*.py"))
    out = []
    for i in range(n):
        sub = dest / f"student{i:02d}"
        sub.mkdir(parents=True)
        for f in (ROOT / "solutions").glob("*.py"):
            shutil.copy(f, sub / f.name)
        m = mistakes[(i * 7) % len(mistakes)]
        with open(sub / f"{m.parent.name}.py", "a") as fh:
            fh.write("\n\n" + m.read_text())
        out.append(sub)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--exercise", action="append", default=[])
    ap.add_argument("--sequential-jobs", type=int, default=1,
                    help="--jobs of each sequential `grade` run (1: one exercise at a time; 2: the default)")
    args = ap.parse_args()
    env = os.environ | {"NO_COLOR": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        subs = make_submissions(args.n, tmp / "subs")
        sel = [a for e in args.exercise for a in ("--exercise", e)]
        t0 = time.perf_counter()
        for s in subs:
            subprocess.run([sys.executable, "-m", "grader.cli", *args.exercise, "--jobs", str(args.sequential_jobs),
                            "--submission", str(s),
                            "--reference", str(ROOT / "solutions"), "--format", "json", "--output",
                            str(tmp / f"{s.name}.json")], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        sequential = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader.cli", "batch", *map(str, subs), "--jobs", str(args.jobs),
                        "--output-dir", str(tmp / "batch"), "--reference", str(ROOT / "solutions"), *sel],
                       cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        batch = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.n} sequential `grade --jobs {args.sequential_jobs}` runs: {sequential:7.1f} s")
    print(f"`grade batch --jobs {args.jobs}`:            {batch:7.1f} s")
    print(f"speed-up:                          {sequential / batch:7.2f}x   ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
