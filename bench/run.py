"""Speed benchmark: `grade` against `python -c "import torch"` on the same machine.

Runs the commands interleaved (A B C A B C ...) so that machine noise hits them alike, and
prints the median wall time of each and its ratio to the torch import.

    python bench/run.py [--rounds 5] [--exercise attention] [--submission solutions]
    python bench/run.py --each [--rounds 3]     # every exercise of the course on its own
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   env=os.environ | {"NO_COLOR": "1"})
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--exercise", default="attention")
    ap.add_argument("--submission", default="solutions", help="folder graded (default: the reference)")
    ap.add_argument("--mode", default="official", choices=["official", "local"])
    ap.add_argument("--each", action="store_true", help="time every exercise of the course on its own")
    args = ap.parse_args()
    py = sys.executable
    grade = [py, "-m", "grader.cli", "--submission", args.submission, "--mode", args.mode,
             "--format", "json", "--output", os.devnull]
    commands = {"python -c 'import torch'": [py, "-c", "import torch"]}
    if args.each:
        sys.path.insert(0, str(ROOT))
        from grader.metadata import load_exercises

        for ex in load_exercises():
            commands[f"grade {ex.id}"] = grade[:3] + [ex.id] + grade[3:]
    else:
        commands[f"grade {args.exercise}"] = grade[:3] + [args.exercise] + grade[3:]
        commands["grade attention masking"] = grade[:3] + ["attention", "masking"] + grade[3:]
    commands["grade (whole course)"] = grade
    times: dict[str, list[float]] = {k: [] for k in commands}
    timed(commands["python -c 'import torch'"])  # warm the file cache
    for _ in range(args.rounds):
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    base = statistics.median(times["python -c 'import torch'"])
    print(f"{'command':<28} {'median s':>9} {'ratio':>7}   ({args.rounds} rounds, mode {args.mode}, "
          f"{os.cpu_count()} cores)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<28} {med:>9.2f} {med / base:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
