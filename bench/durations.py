"""Measure how long each exercise takes to grade on the reference, for `grade --jobs N`'s order.

Grades the reference (official mode, one exercise at a time, so that the times do not depend on
what ran beside them) ``--rounds`` times and writes the median seconds of each exercise to
``grader/course/durations.json``, which the runner reads to start the longest exercises first
(on two cores, the longest-first order leaves no core idle at the end). Only the order matters,
so a busy machine is fine; re-run it when an exercise's checks get much faster or slower.

    python bench/durations.py [--rounds 3] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "grader" / "course" / "durations.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dry-run", action="store_true", help="print the table, do not write it")
    args = ap.parse_args()
    seconds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        for _ in range(args.rounds):
            subprocess.run([sys.executable, "-m", "grader.cli", "--submission", "solutions", "--mode", "official",
                            "--jobs", "1", "--format", "json", "--output", str(report)],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=os.environ | {"NO_COLOR": "1"})
            for ex in json.loads(report.read_text(encoding="utf-8"))["exercises"]:
                seconds.setdefault(ex["id"], []).append(float(ex["seconds"]))
    table = {k: round(statistics.median(v), 2) for k, v in seconds.items()}
    doc = {"about": "median seconds to grade each exercise on the reference (official mode, --jobs 1); "
                    "written by bench/durations.py, read by the runner to start the longest first",
           "seconds": dict(sorted(table.items(), key=lambda kv: -kv[1]))}
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    if args.dry_run:
        print(text, end="")
    else:
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
