"""Grading many submissions: folders or .zip files, in parallel, one report each plus a CSV.

Each pool process starts one zygote (torch imported once per pool process, not once per
submission) and grades the submissions it is handed one after the other. A submission that
breaks or attacks its workers only fails its own checks; one that breaks a pool process is
recorded as a grader error and the batch goes on.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

MAX_ZIP_BYTES = 64 << 20
MAX_ZIP_FILES = 2000


class BadSubmission(ValueError):
    """A submission that cannot even be unpacked."""


@dataclass
class Job:
    name: str
    source: str
    mode: str
    reference: str | None
    seed: int | None
    exercises: list[str]
    formats: list[str]
    out_dir: str
    lang: str
    require_sandbox: bool
    staff: bool = False  # reports show hidden checks (the course staff's view)


def unpack(source: Path, dest: Path) -> Path:
    """A submission as a folder: the folder itself, or a .zip unpacked safely into ``dest``
    (no absolute paths, no ``..``, no links, size and count capped). Where its modules are
    in it is :func:`grader.discover.find_modules`' business."""
    if source.is_dir():
        return source
    if source.suffix.lower() != ".zip" or not source.is_file():
        raise BadSubmission(f"{source.name}: not a folder or a .zip file")
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise BadSubmission(f"{source.name}: not a readable zip file ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_FILES:
            raise BadSubmission(f"{source.name}: too many files ({len(infos)}; at most {MAX_ZIP_FILES})")
        if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise BadSubmission(f"{source.name}: too large unpacked (more than {MAX_ZIP_BYTES >> 20} MiB)")
        dest.mkdir(parents=True, exist_ok=True)
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if name.startswith("/") or ".." in parts or not parts:
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symbolic link
                continue
            target = dest.joinpath(*parts)
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            # a bad CRC, a truncated or unsupported entry, a password, a name the disk refuses
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                    ValueError, OSError) as exc:
                raise BadSubmission(f"{source.name}: cannot unpack {name[:200]!r} ({exc})") from None
    return dest


# --- pool side ---------------------------------------------------------------------------

_ZYGOTE = None
_SANDBOX = None


def _init_pool(require_sandbox: bool, reference: str | None = None) -> None:
    """One zygote per pool process, reused across its submissions only where every worker
    gets a uid of its own (nothing of one submission is readable by the next one's workers);
    elsewhere each submission gets a fresh zygote. Closed (run folder removed) at exit."""
    import atexit
    import signal

    global _ZYGOTE, _SANDBOX
    from grader.host.pool import Zygote
    from grader.host.sandbox import choose

    _SANDBOX = choose(require_strong=require_sandbox, hide=[Path(reference)] if reference else None)
    if _SANDBOX.separate_uids:
        _ZYGOTE = Zygote(_SANDBOX)
        atexit.register(_ZYGOTE.close)
    # the pool is ended with SIGTERM: run the atexit hooks (remove run folders) then
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _grade_one(job: Job) -> dict[str, Any]:
    """Grade one submission in a pool process; return a summary (plain data)."""
    from grader.discover import find_modules, not_graded
    from grader.formats import write_all as write_reports
    from grader.metadata import load_exercises
    from grader.runner import Runner

    tmp = Path(tempfile.mkdtemp(prefix="grade-batch-"))
    try:
        course = load_exercises()
        found = find_modules(unpack(Path(job.source), tmp / "unpacked"), [e.id for e in course])
        exercises = [e for e in course if not job.exercises or e.id in job.exercises]
        if found.folder is None:
            result = not_graded(exercises, mode=job.mode, seed=job.seed or 0, sandbox=_SANDBOX.level,
                                problem=found.problem(), submission=job.source)
        else:
            runner = Runner(found.folder, exercises, mode=job.mode,
                            reference=Path(job.reference) if job.reference else None, seed=job.seed,
                            sandbox=_SANDBOX, zygote=_ZYGOTE)  # zygote None: one of its own, closed after
            result = runner.run()
        paths = write_reports(result, Path(job.out_dir), job.formats, job.lang, student=not job.staff)
        status = ("grader error" if result.grader_errors else "bad submission" if result.rejected
                  else "no modules found" if result.problem else "graded")
        return {"name": job.name, "status": status, **({"error": result.rejected} if result.rejected else {}),
                "score": result.score, "max_score": result.max_score, "seed": result.seed,
                "exercises": {e.id: e.score for e in result.exercises},
                "reports": {k: str(v) for k, v in paths.items()},
                **({"error": result.problem.splitlines()[0]} if result.problem else {})}
    except BadSubmission as exc:
        # a submission that cannot be unpacked still gets its report, which says why
        from grader.runner import rejected_result

        exercises = [e for e in load_exercises() if not job.exercises or e.id in job.exercises]
        result = rejected_result(exercises, str(exc), mode=job.mode, seed=job.seed or 0,
                                 sandbox=_SANDBOX.level if _SANDBOX else "none", submission=job.source)
        paths = write_reports(result, Path(job.out_dir), job.formats, job.lang, student=not job.staff)
        return {"name": job.name, "status": "bad submission", "score": 0.0, "max_score": result.max_score,
                "error": str(exc), "exercises": {e.id: 0.0 for e in result.exercises},
                "reports": {k: str(v) for k, v in paths.items()}}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def names_for(sources: list[Path]) -> list[str]:
    """A distinct folder name per submission, always a plain name inside the output folder
    (``alice.zip``, ``alice/`` and ``alice-2.zip`` never collide; ``...zip`` never escapes)."""
    taken: set[str] = {"grades.csv", "grades.json"}
    out = []
    for s in sources:
        base = s.name[:-4] if s.name.lower().endswith(".zip") and not s.is_dir() else s.name
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in base).lstrip(".")[:100] or "submission"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.lower())
        out.append(name)
    return out


def run_batch(sources: list[Path], out_dir: Path, *, jobs: int, mode: str, reference: Path | None,
              seed: int | None, exercises: list[str], formats: list[str], lang: str,
              require_sandbox: bool = False, progress: Any = None, staff: bool = False) -> list[dict[str, Any]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [Job(name, str(src.resolve()), mode, str(reference.resolve()) if reference else None, seed,
                exercises, formats, str(out_dir / name), lang, require_sandbox, staff)
            for name, src in zip(names_for(sources), sources)]
    results: dict[str, dict[str, Any]] = {}
    while todo:
        ctx = get_context("spawn")
        with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx, initializer=_init_pool,
                                 initargs=(require_sandbox, str(reference.resolve()) if reference else None)) as pool:
            futures = {pool.submit(_grade_one, job): job for job in todo}
            broken = False
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    results[job.name] = fut.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                except Exception as exc:  # noqa: BLE001 - one submission never stops the batch
                    results[job.name] = {"name": job.name, "status": "grader error", "score": 0.0,
                                         "max_score": 0.0, "error": f"{type(exc).__name__}: {exc}",
                                         "exercises": {}}
                if progress:
                    progress(results[job.name])
        pending = [j for j in todo if j.name not in results]
        if broken and pending:
            # a pool process died: grade the rest again, but each failing one only once more
            for job in pending[:1]:
                results[job.name] = {"name": job.name, "status": "grader error", "score": 0.0,
                                     "max_score": 0.0, "error": "the grading process died",
                                     "exercises": {}}
            pending = pending[1:]
        todo = pending
    from grader.sanitize import scrub

    ordered = scrub([results[n] for n in names_for(sources)])  # error texts may quote the submission
    write_csv(ordered, out_dir / "grades.csv")
    from grader.reports import write_atomic

    write_atomic(out_dir / "grades.json", json.dumps(ordered, indent=2, ensure_ascii=False))
    return ordered


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    from grader.reports import write_atomic

    ex_ids: list[str] = []
    for r in rows:
        for k in r.get("exercises", {}):
            if k not in ex_ids:
                ex_ids.append(k)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["submission", "status", "score", "max_score", "percent", *ex_ids])
    for r in rows:
        pct = 100.0 * r["score"] / r["max_score"] if r.get("max_score") else 0.0
        w.writerow([r["name"], r["status"], f"{r['score']:g}", f"{r['max_score']:g}", f"{pct:.1f}",
                    *[f"{r.get('exercises', {}).get(e, 0):g}" for e in ex_ids]])
    write_atomic(path, buf.getvalue())


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
