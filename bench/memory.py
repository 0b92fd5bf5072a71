"""Memory benchmark: the peak memory of `grade`'s whole process tree (the grading process, the
zygote, every worker, bubblewrap) while it grades the course in official mode, as Gradescope
runs it. Gradescope's container has 768 MB by default; what counts there is memory the tree
holds once, which PSS measures (a page shared by the zygote and its forked workers counts
once, split between them); the RSS sum counts shared pages again in every process.

    python bench/memory.py [--jobs 1 2] [--submission correct mistakes] [--exercise ID ...]

`correct` is the reference; `mistakes` is the reference with a known mistake in every
exercise (the report names each mistake, which replays the check on the known mistakes in
workers of their own: the heaviest case). Prints one row per run: the peak memory the tree
holds, peak PSS sum, peak RSS sum, the most processes at once, and the wall time.

"held" is the number of distinct physical pages mapped by the tree's processes (from
/proc/PID/pagemap; needs root, else it prints 0): a page shared by several of the tree's
processes counts once, and, unlike PSS, it does not read low when other processes outside the
tree (another session's torch) map the same library pages. It is what a fresh container's
memory limit is charged for mapped memory. "anon" counts only the anonymous pages among them
(heaps, stacks): what the kernel cannot drop and read back from a file when the container
reaches its limit, so what an out-of-memory kill is about.
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

import numpy as np

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


PAGE = os.sysconf("SC_PAGE_SIZE")
PFN = np.uint64((1 << 55) - 1)


def frames(pid: int, anonymous: bool = False) -> np.ndarray:
    """The physical frame numbers of every present page ``pid`` maps (empty without root);
    with ``anonymous``, only those of its anonymous mappings (heap, stacks, private memory:
    what cannot be dropped and read back from a file when memory runs short)."""
    out = []
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                fields = line.split(None, 5)
                name = fields[5].strip() if len(fields) > 5 else ""
                if name in ("[vsyscall]", "[vvar]", "[vdso]"):
                    continue
                if anonymous and name and not name.startswith(("[heap]", "[stack", "[anon")):
                    continue
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                pagemap.seek(lo // PAGE * 8)
                entries = np.frombuffer(pagemap.read((hi - lo) // PAGE * 8), dtype=np.uint64)
                present = entries[(entries >> np.uint64(63)) == 1] & PFN
                out.append(present[present != 0])  # 0: frame numbers hidden (not root)
    except OSError:
        pass
    return np.concatenate(out) if out else np.zeros(0, dtype=np.uint64)


def held(pids: list[int], anonymous: bool = False) -> int:
    """Bytes of distinct physical pages mapped by ``pids`` together."""
    return len(np.unique(np.concatenate([frames(p, anonymous) for p in pids]))) * PAGE if pids else 0


def measure(cmd: list[str], interval: float = 0.05) -> dict[str, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"NO_COLOR": "1"})
    peak_held = peak_anon = peak_pss = peak_rss = peak_n = 0
    while proc.poll() is None:
        pids = tree(proc.pid)
        sums = [memory(p) for p in pids]
        peak_held = max(peak_held, held(pids))
        peak_anon = max(peak_anon, held(pids, anonymous=True))
        peak_pss = max(peak_pss, sum(s[0] for s in sums))
        peak_rss = max(peak_rss, sum(s[1] for s in sums))
        peak_n = max(peak_n, len(pids))
        time.sleep(interval)
    return {"held": peak_held / MiB, "anon": peak_anon / MiB, "pss": peak_pss / MiB, "rss": peak_rss / MiB,
            "procs": peak_n, "seconds": time.monotonic() - t0, "exit": proc.returncode}


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
        print(f"{'submission':<10} {'jobs':>4} {'held MiB':>9} {'anon MiB':>9} {'peak PSS MiB':>13} "
              f"{'peak RSS MiB':>13} {'procs':>6} "
              f"{'seconds':>8}   (official mode, {', '.join(args.exercise) or 'whole course'})", flush=True)
        for kind in args.submission:
            sub = make_submission(kind, tmp)
            for jobs in args.jobs:
                cmd = [sys.executable, "-m", "grader.cli", *args.exercise, "--submission", str(sub),
                       "--reference", str(ROOT / "solutions"), "--mode", "official", "--jobs", str(jobs),
                       "--format", "gradescope", "--output", str(tmp / "results.json")]
                r = measure(cmd)
                print(f"{kind:<10} {jobs:>4} {r['held']:>9.0f} {r['anon']:>9.0f} {r['pss']:>13.0f} "
                      f"{r['rss']:>13.0f} {r['procs']:>6} "
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
