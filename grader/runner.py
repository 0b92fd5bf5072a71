"""How checks become a score: one fresh worker per exercise, every check run and recorded.

A failure in student code (an exception, a wrong value, a hang, a crash) fails the check it
happened in; the worker is replaced and the remaining checks go on. A failure in the grader's
own code is a grader error, kept apart from the student's score.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import platform
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import __version__
from grader.checks import (
    Check,
    CheckFailed,
    Ctx,
    Failure,
    NotStarted,
    budget_message,
    plain,
)
from grader.host.pool import GraderError, StudentError, Worker, WorkerLost, Zygote, preload_for
from grader.host.sandbox import Sandbox
from grader.host.staging import private_dir, read_submission, remove_tree, write_stage
from grader.kinds import kind_of, name_by_verdict, nameable, verdict
from grader.messages import Msg, msg, scope
from grader.metadata import Exercise, find_course_root
from grader.protocol.preloads import HUGGING_FACE
from grader.pysource import install as _lock_ast_parse

_lock_ast_parse()  # exercises are graded in threads: every ast.parse takes one lock (grader/pysource.py)
MISTAKE_WORKERS = 1  # replay workers an exercise keeps alive at once (official mode)
MAX_TIMEOUTS = 10  # after this many checks of one exercise hang, the rest are not run


@dataclass
class CheckResult:
    id: str
    title: str
    status: str  # passed | failed | error | timeout | crashed | skipped
    score: float
    max_score: float
    kind: str = ""
    uses: list[str] = field(default_factory=list)
    message: str = ""
    failure: Failure | None = None
    hidden: bool = False
    seconds: float = 0.0
    title_zh: str = ""
    raw_message: str = ""  # the message before dependency notes are added
    withheld: str = ""  # why a passed check scores nothing (it does not test correctness)
    margin: dict | None = None  # a quality check's achieved metric and time (checks.margin_text)
    # what this check's failure is likely caused by, shown instead of its hints: a function it
    # builds on that fails a check of its own ({"exercise", "function", "check", "by"}; see cause_of)
    cause: dict | None = None

    @property
    def diagnosis(self) -> str:
        return self.failure.diagnosis if self.failure else ""


@dataclass
class ExerciseResult:
    id: str
    title: dict[str, str]
    score: float
    max_score: float
    checks: list[CheckResult]
    file: str = ""
    output: str = ""
    seconds: float = 0.0
    after: list[str] = field(default_factory=list)
    rejected: str = ""  # why the submission was not graded at all (then every check failed)
    # why the exercise's module could not be imported (a SyntaxError with file, line, the line
    # and a caret; an exception at import time): every report shows it once, its checks say
    # only that they were not graded
    error: str = ""

    @property
    def not_started(self) -> bool:
        return all(c.failure is not None and c.failure.not_implemented for c in self.checks
                   if c.status != "passed") and not any(c.status == "passed" for c in self.checks)


@dataclass
class RunResult:
    score: float
    max_score: float
    mode: str
    seed: int
    sandbox: str
    versions: dict[str, str]
    exercises: list[ExerciseResult]
    seconds: float = 0.0
    grader_errors: list[str] = field(default_factory=list)
    submission: str = ""
    problem: str = ""  # why nothing was graded (no exercise module found), for every report
    rejected: str = ""  # why the submission was not graded at all (a clear message, never a grader error)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RUN_BUDGET = 1800.0  # seconds for a whole submission; each exercise also has its own budget
EXERCISE_BUDGET = 90.0  # default per exercise, plus the time limits of its quality checks


def rejected_result(exercises: list[Exercise], reason: str, *, mode: str, seed: int, sandbox: str,
                    submission: str = "", seconds: float = 0.0) -> RunResult:
    """The report of a submission that could not be graded: every check failed with the reason."""
    message = msg("runner.rejected", reason=reason)
    results = []
    for ex in exercises:
        checks = [CheckResult(c.id, c.title, "failed", 0.0, float(c.points or 0), kind=c.kind,
                              uses=list(c.uses), message=message, failure=Failure(message),
                              hidden=c.id in ex.hidden, title_zh=c.title_zh, raw_message=message)
                  for c in ex.checks()]
        results.append(ExerciseResult(ex.id, ex.title, 0.0, sum(c.max_score for c in checks), checks,
                                      file=f"exercises/{ex.id}.py", after=ex.after, rejected=reason))
    return RunResult(score=0.0, max_score=sum(r.max_score for r in results), mode=mode, seed=seed,
                     sandbox=sandbox, versions=versions(sandbox), exercises=results, seconds=seconds,
                     submission=submission, rejected=reason)


def versions(sandbox: str) -> dict[str, str]:
    out = {"grader": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "sandbox": sandbox}
    from importlib.metadata import version

    # hypothesis: what a seed draws depends on its release as well as on the seed
    for package in ("torch", "hypothesis"):
        try:
            out[package] = version(package)
        except Exception:  # noqa: BLE001
            out[package] = "unknown"
    return out


class Runner:
    """Grades one submission folder against the course's exercises."""

    def __init__(self, submission: Path, exercises: list[Exercise], *, mode: str,
                 reference: Path | None, seed: int | None, sandbox: Sandbox,
                 zygote: Zygote | None = None, memory: int = 2 << 30,
                 max_examples: int | None = None, progress: Any = None,
                 call_timeout: float | None = None, name_mistakes: bool = True, jobs: int = 1,
                 run_budget: float = RUN_BUDGET) -> None:
        if mode == "official" and sandbox.level == "process" and hasattr(os, "getuid") and os.getuid() == 0:
            raise GraderError("official grading as root at the `process` level would run student code as "
                              "root: refused (install bubblewrap, or let the grader use the `uid` level)")
        self.origin = submission.resolve()
        # read once, regular files only: these bytes are hashed, scanned and graded
        self.staged = read_submission(self.origin)
        self._view = private_dir("grader-view-")
        self.submission = write_stage(self.staged.files, self._view / "submission")
        self.run_budget = run_budget
        self.deadline = time.monotonic() + run_budget
        self._mistake_zygote: Zygote | None = None
        self.exercises = exercises
        self.mode = mode
        self.sandbox = sandbox
        self.max_examples = max_examples
        self.progress = progress
        self.call_timeout = call_timeout  # overrides the metadata (tests of hangs use a short one)
        self.name_mistakes = name_mistakes
        if sandbox.level == "bwrap":  # the sandbox's /tmp and /dev/shm count against the budget
            from grader.host.sandbox import SHM_BYTES, TMP_BYTES

            memory = max(memory - TMP_BYTES - SHM_BYTES, memory // 2)
        self.limits = {"memory": memory, "cpu_seconds": 900, "processes": 64}  # per worker
        self.jobs = jobs
        self._mistake_workers: dict[tuple[str, str], Worker] = {}
        # exercises whose worker needs the zygote to import the Hugging Face libraries first
        self._heavy = {ex.id for ex in exercises
                       if preload_for(self.staged.files, f"{ex.id}.py") == list(HUGGING_FACE)}
        self._mistake_lock = threading.Lock()
        self.rejected = self.staged.error  # why nothing can be graded (too large, unreadable folder)
        self.seed = seed if seed is not None else (
            self.staged.digest([ex.id for ex in exercises]) if mode == "official" and not self.rejected else 0)
        self._own_zygote = zygote is None
        self.zygote = zygote if zygote is not None or self.rejected else Zygote(sandbox, branches=jobs > 1)
        self.reference = None
        self.mistakes = None
        self._torch_thread: Any = None
        self.grader_errors: list[str] = []
        self._cause_sub: Any = None  # the submission's sources, parsed once (banned.Submission)
        # results of exercises graded before (watch mode re-grades only what changed): what this
        # run's failures may be caused by
        self.earlier: list[ExerciseResult] = []
        keep_hypothesis_out_of(self.submission)
        if mode == "official":

            # import torch for the reference while the zygote imports its own: two cores, one wait
            self._torch_thread = threading.Thread(target=_import_torch, daemon=True)
            self._torch_thread.start()
            from grader.reference import Mistakes, Reference

            if reference is None:
                raise GraderError("official mode needs the reference solutions (--reference)")
            self.reference = Reference(reference)
            root = find_course_root(reference.parent) or reference.parent
            self.mistakes = Mistakes(self.reference, root / "mistakes")

    # -- the run --

    def run(self) -> RunResult:
        start = time.monotonic()
        if self.rejected:
            return rejected_result(self.exercises, self.rejected, mode=self.mode, seed=self.seed,
                                   sandbox=self.sandbox.level, submission=str(self.submission),
                                   seconds=round(time.monotonic() - start, 3))
        results: list[ExerciseResult] = []
        try:
            self._fork_mistake_zygote()
            self._torch_ready()
            _freeze_heap()
            if self.jobs > 1 and len(self.exercises) > 1:
                results = self._run_parallel()
            else:
                results = self._run_sequential()
        finally:
            if self._own_zygote:
                self.zygote.close()
            if self._mistake_zygote is not None:
                self._mistake_zygote.close()
            remove_tree(self._view)
        return RunResult(
            score=round(sum(r.score for r in results), 6),
            max_score=sum(r.max_score for r in results),
            mode=self.mode, seed=self.seed, sandbox=self.sandbox.level,
            versions=versions(self.sandbox.level), exercises=results,
            seconds=round(time.monotonic() - start, 3), grader_errors=self.grader_errors,
            submission=str(self.origin),
        )

    def _run_sequential(self) -> list[ExerciseResult]:
        """Exercises one after the other, in course order, except that those whose worker
        needs the zygote to import the Hugging Face libraries go last: the zygote then holds
        them (~150 MiB) only for the end of the run, not beside every later exercise's
        training (``--jobs 1`` is the memory-bound setting: Gradescope's 768 MB). Results
        and progress keep the course order."""
        heavy = self._heavy
        order = [ex for ex in self.exercises if ex.id not in heavy] + \
            [ex for ex in self.exercises if ex.id in heavy]
        done: dict[str, ExerciseResult] = {}
        shown = 0
        for ex in order:
            if self.progress:
                self.progress("start", ex)
            done[ex.id] = self.grade_exercise(ex)
            _give_back_memory()
            while shown < len(self.exercises) and self.exercises[shown].id in done:
                self._annotate_causes([done[e.id] for e in self.exercises[:shown + 1]],
                                      done[self.exercises[shown].id])  # its dependencies came before it
                if self.progress:
                    self.progress("done", done[self.exercises[shown].id])
                shown += 1
        return [done[ex.id] for ex in self.exercises]

    def _run_parallel(self) -> list[ExerciseResult]:
        """Exercises in ``jobs`` threads (each with its own worker): while one exercise's
        student code runs, another's checks run here. Results keep the course order, and
        each check's inputs depend only on its seed, so the outcome is the same."""
        done: dict[str, ExerciseResult] = {}
        lock = threading.Lock()
        shown = 0

        def one(ex: Exercise) -> None:
            nonlocal shown
            if self.progress:
                with lock:
                    self.progress("start", ex)
            res = self.grade_exercise(ex)
            with lock:
                done[ex.id] = res
                # report in course order: show every finished exercise not blocked by an earlier one
                while shown < len(self.exercises) and self.exercises[shown].id in done:
                    self._annotate_causes([done[e.id] for e in self.exercises[:shown + 1]],
                                          done[self.exercises[shown].id])
                    if self.progress:
                        self.progress("done", done[self.exercises[shown].id])
                    shown += 1

        # By the reference's measured grading time: even threads take the longest left, odd ones
        # the shortest. The long ones mostly wait on their worker (training) and the short ones
        # mostly run checks here, so the two kinds share the cores (and this process's lock)
        # from the start instead of the short ones queueing for this process at the end.
        # The shortest, about a second of them, are kept for the end, where whichever thread is
        # free takes them: the run then ends on small pieces, not on one thread finishing a
        # middling exercise alone while the other core idles.
        order = collections.deque(sorted(self.exercises, key=lambda e: -expected_seconds(e)))
        tail: collections.deque[Exercise] = collections.deque()
        kept = 0.0
        while len(order) > self.jobs and kept + expected_seconds(order[-1]) <= TAIL_SECONDS:
            kept += expected_seconds(order[-1])
            tail.appendleft(order.pop())
        errors: list[BaseException] = []

        def loop(i: int) -> None:
            while True:
                with lock:
                    if not (order or tail) or errors:
                        return
                    if not order:
                        ex = tail.popleft()
                    else:
                        ex = order.popleft() if i % 2 == 0 else order.pop()
                try:
                    one(ex)
                except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
                    with lock:
                        errors.append(exc)
                    return

        threads = [threading.Thread(target=loop, args=(i,), name=f"grade-{i}", daemon=True)
                   for i in range(min(self.jobs, len(order)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return [done[ex.id] for ex in self.exercises]

    def _spawn(self, ex: Exercise) -> tuple[Worker | None, CheckResult | None]:
        """A fresh worker with the exercise's module imported, or why it could not be."""
        name = f"{ex.id}.py"
        refused = self.staged.error or (msg("runner.refused_file", name=name, why=self.staged.refused[name])
                                        if name in self.staged.refused else "")
        if refused:
            f = Failure(msg("runner.refused", refused=refused))
            return None, CheckResult("import", "import", "error", 0, 0, message=f.message, failure=f)
        preload = preload_for(self.staged.files, name)
        try:
            worker = self.zygote.spawn(self.staged.files, self.limits | {"preload": preload})
        except GraderError as err:  # the grader's own failure: recorded, the report is still written
            text = msg("runner.no_worker", err=str(err))
            self.grader_errors.append(f"{ex.id}.import: GraderError: {err}")
            return None, CheckResult("import", "import", "skipped", 0, 0, message=text, failure=Failure(text))
        try:
            worker.request({"op": "load", "module": ex.id}, ex.import_timeout)
        except StudentError as err:
            # one error for the exercise (file, line, the line and a caret), shown once by every
            # report; each check only says that it was not graded because of it
            text = not_imported_message(ex.id)
            res = CheckResult("import", "import", "error", 0, 0, message=text, failure=Failure(text))
            res.raw_message = import_error_text(ex.id, err, self.submission)
            return worker, res
        except WorkerLost as lost:
            text = msg("runner.importing", exercise=ex.id, lost=lost.message)
            return worker, CheckResult("import", "import", lost.status, 0, 0, message=text,
                                       failure=Failure(text))
        return worker, None

    def grade_exercise(self, ex: Exercise) -> ExerciseResult:
        with scope(ex.id):  # the exercise's message catalog first (grader/messages.py)
            return self._grade_exercise(ex)

    def _grade_exercise(self, ex: Exercise) -> ExerciseResult:
        start = time.monotonic()
        checks = ex.checks()
        missing = ex.missing_requirements()
        if missing:  # optional packages the exercise needs: say what to install, grade nothing
            return self._not_installed(ex, checks, missing, start)
        results: list[CheckResult] = []
        snapshot = None
        if self.mode == "local":
            from grader.snapshots import load

            snapshot = load(ex.id)
        else:
            snapshot = self.recorded(ex)
        budget = ex.budget if ex.budget is not None else EXERCISE_BUDGET + sum(
            kind_of(c.kind).budget(c) for c in checks)
        deadline = min(start + budget, self.deadline)
        budget = min(budget, self.run_budget)
        worker, import_fail = self._spawn(ex)
        banned_seen: list[str] = []
        timed_out: set[str] = set()
        to_name: list[tuple[Check, Failure]] = []
        output = ""
        error = import_fail.raw_message if import_fail is not None else ""
        for check in checks:
            points = float(check.points or 0)
            res = CheckResult(check.id, check.title, "failed", 0.0, points, kind=check.kind,
                              uses=list(check.uses), hidden=check.id in ex.hidden,
                              title_zh=check.title_zh)
            t0 = time.monotonic()
            if import_fail is not None:
                res.status, res.message, res.failure = import_fail.status, import_fail.message, import_fail.failure
            elif len(timed_out) >= MAX_TIMEOUTS:
                res.status = "timeout"
                res.message = msg("runner.not_run_timeouts", n=len(timed_out))
                res.failure = Failure(res.message)
            elif time.monotonic() >= deadline:
                res.status = "timeout"
                res.message = budget_message(budget)
                res.failure = Failure(res.message)
            else:
                if worker is None or worker.dead is not None:
                    if worker is not None:
                        output += worker.output_tail()
                    worker, import_fail = self._spawn(ex)
                    if import_fail is not None:
                        error = error or import_fail.raw_message
                        res.status, res.message, res.failure = (import_fail.status, import_fail.message,
                                                                import_fail.failure)
                        results.append(res)
                        continue
                ctx = Ctx(ex.id, check.id, worker, self.reference, self.seed,
                          self.call_timeout or check.timeout or ex.timeout, ex.banned,
                          self.max_examples or ex.max_examples, self.mode)
                ctx.submission = self.submission
                ctx.banned_seen = banned_seen
                ctx.deadline, ctx.budget = deadline, budget
                self._run_check(ex, check, ctx, res, snapshot, banned_seen)
                res.margin = ctx.margin
                res.raw_message = res.message
                if nameable(res) and self.name_mistakes:
                    to_name.append((check, res.failure))
                if res.status == "timeout":
                    timed_out.add(check.id)
            if res.status == "passed":
                res.score = points
            res.seconds = round(time.monotonic() - t0, 3)
            results.append(res)
        if worker is not None:
            output += worker.output_tail()
            worker.close()
        # named once the student's worker is gone: a replay worker (100-250 MB) never runs beside it
        for check, failure in to_name:
            self._name_by_replay(ex, check, failure, snapshot)
        self._annotate_dependencies(ex, results)
        withhold_points(checks, results)
        self._close_mistake_workers(ex.id)
        return ExerciseResult(ex.id, ex.title, sum(r.score for r in results),
                              sum(r.max_score for r in results), results,
                              file=f"exercises/{ex.id}.py", output=output[-4000:],
                              seconds=round(time.monotonic() - start, 3), after=ex.after, error=error)

    def recorded(self, ex: Exercise) -> dict | None:
        """Official mode: the snapshot when it was recorded from this very reference (and these
        checks, catalogs and known mistakes: the same ``$depends``), so that the reference's
        outputs on the fixed cases are read, not computed again; else None (they are computed)."""
        from grader.snapshots import dependency_hash, load

        data = load(ex.id)
        if data is None or self.reference is None:
            return None
        want = dependency_hash(ex.id, self.reference.folder, self.mistakes.folder if self.mistakes else None)
        return data if data.get("$depends") == want else None

    def _not_installed(self, ex: Exercise, checks: list[Check], missing: list[str],
                       start: float) -> ExerciseResult:
        import shlex

        names = ", ".join(shlex.quote(r) for r in missing)
        message = msg("runner.not_installed", names=names,
                      requires=" ".join(shlex.quote(r) for r in ex.requires))
        results = [CheckResult(c.id, c.title, "skipped", 0.0, float(c.points or 0),
                               kind=c.kind, uses=list(c.uses), message=message, failure=Failure(message),
                               hidden=c.id in ex.hidden, title_zh=c.title_zh, raw_message=message)
                   for c in checks]
        return ExerciseResult(ex.id, ex.title, 0.0, sum(r.max_score for r in results), results,
                              file=f"exercises/{ex.id}.py", seconds=round(time.monotonic() - start, 3),
                              after=ex.after)

    def _run_check(self, ex: Exercise, check: Check, ctx: Ctx, res: CheckResult,
                   snapshot: dict | None, banned_seen: list[str]) -> None:
        try:
            if os.environ.get("GRADER_TEST_INJECT_BUG") == f"{ex.id}.{check.id}":  # for the tests only
                raise RuntimeError("injected grader bug")
            note = kind_of(check.kind).run(self, ex, check, ctx, snapshot)
            if isinstance(note, str):  # e.g. the metric a quality check reached
                res.message = note if isinstance(note, Msg) else note[:300]
            res.status = "passed"
        except CheckFailed as cf:
            res.failure = cf.failure
            if not res.failure.input and ctx.last_input:
                res.failure.input = ctx.last_input
            res.message = cf.failure.message
        except NotStarted as ns:
            res.message = msg("runner.not_implemented")
            res.failure = Failure(res.message, frames=ns.err.frames, not_implemented=True)
        except StudentError as err:
            if err.type == "BannedAPIError":
                banned_seen.append(err.message)
            res.status = "failed" if err.not_implemented else "error"
            res.message = (msg("runner.not_implemented") if err.not_implemented
                           else msg("runner.student_error", type=err.type, message_=err.message))
            res.failure = Failure(res.message, input=ctx.last_input, frames=err.frames,
                                  not_implemented=err.not_implemented)
        except AssertionError as err:
            res.message = msg("runner.assertion", text=str(err)) if str(err) else msg("runner.property")
            res.failure = Failure(res.message, input=ctx.last_input)
        except WorkerLost as lost:
            res.status = lost.status
            res.message = lost.message
            res.failure = Failure(lost.message, input=ctx.last_input)
        except GraderError as err:
            self._grader_error(ex, check, err, res)
        except Exception as err:  # noqa: BLE001
            # hypothesis wraps repeated failures (Flaky, ExceptionGroup): unwrap student ones
            first = _first_of(err, (CheckFailed, AssertionError))
            inner = _student_cause(err)
            if first is not None:
                text = msg("runner.assertion", text=str(first)) if str(first) else msg("runner.property")
                failure = first.failure if isinstance(first, CheckFailed) else Failure(text)
                res.failure, res.message = failure, failure.message
                if not failure.input:
                    failure.input = ctx.last_input
            elif inner is not None:
                res.status = "error"
                res.message = msg("runner.student_error", type=inner.type, message_=inner.message)
                res.failure = Failure(res.message, input=ctx.last_input, frames=inner.frames)
            elif type(err).__module__.startswith("hypothesis"):
                res.message = msg("runner.unreliable", type=type(err).__name__, text=str(err)[:300])
                res.failure = Failure(res.message, input=ctx.last_input)
            else:
                self._grader_error(ex, check, err, res)

    def _grader_error(self, ex: Exercise, check: Check, err: BaseException, res: CheckResult) -> None:
        tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))[-3000:]
        self.grader_errors.append(f"{ex.id}.{check.id}: {type(err).__name__}: {err}\n{tb}")
        res.status = "skipped"
        res.message = msg("runner.grader_error", type=type(err).__name__, err=str(err))
        res.failure = Failure(res.message)

    def _fork_mistake_zygote(self) -> None:
        """Official mode names a failure by replaying it on the known mistakes, in workers of a
        trusted zygote. When there are mistakes to replay, fork that zygote from this process
        now, while only this thread runs and once torch is imported: it then shares torch and
        the grader with this process (~150 MiB less at the run's peak than a zygote of its own,
        which is what keeps a whole-course run under Gradescope's 768 MB)."""
        if self.mistakes is None or not self.name_mistakes or \
                not any(self.mistakes.files(ex.id) for ex in self.exercises):
            return
        self._torch_ready()
        if threading.active_count() > 1:  # someone else's threads (a fork would copy only this one)
            return
        with contextlib.suppress(GraderError, OSError):
            self._mistake_zygote = self._trusted_zygote(fork=True)

    def _trusted_zygote(self, fork: bool = False) -> Zygote:
        """The zygote of the known mistakes' workers: outside the students' sandbox."""
        from grader.host.sandbox import Sandbox as _Sandbox

        return Zygote(_Sandbox("process"), trusted=True, fork=fork, branches=self.jobs > 1)

    def _torch_ready(self) -> None:
        """Wait for the background import of torch before this thread imports any of it: two
        threads importing torch's submodules at once can see each other's half-made modules."""
        if self._torch_thread is not None:
            self._torch_thread.join()

    # -- naming a mistake found by a property, behaviour or statistical check --

    def _name_by_replay(self, ex: Exercise, check: Check, failure: Failure, snapshot: dict | None) -> None:
        """Name the mistake when a known one fails this check the same way: the same message
        AND the same verdict (the failing input, and the expected and got values the check
        reports), not merely the same sentence of the property.

        Official mode replays the check, with the same seed, on each known mistake (the
        reference with that mistake, in a worker of its own); local mode looks the verdict up
        in the fingerprints recorded with the snapshot (seed 0)."""
        if self.mistakes is None:
            prints = (snapshot or {}).get("$fingerprints", {})
            found = prints.get(check.id, {}) if isinstance(prints, dict) else {}
            found = found if isinstance(found, dict) else {}
            name = found.get(verdict(failure))
            texts = (snapshot or {}).get("$mistake_texts", {})
            if isinstance(name, str) and isinstance(texts, dict) and name in texts:
                failure.diagnosis = str(texts[name].get("en", ""))
                failure.diagnosis_zh = str(texts[name].get("zh", ""))
            return
        from grader.metadata import mistake_info

        name_by_verdict(failure, check.id, self.mistakes.files(ex.id), mistake_info,
                        lambda path: self._replay(ex, check, path.stem))

    def _replay(self, ex: Exercise, check: Check, name: str) -> Failure | None:
        """How a known mistake fails this check (None: it passes). Known mistakes are the
        reference plus a change (trusted code): they run in workers of a zygote of their own,
        outside any student's sandbox, from stages removed as soon as they are imported."""
        key = (ex.id, name)
        with self._mistake_lock:
            worker = self._mistake_workers.pop(key, None)
            if worker is not None:
                self._mistake_workers[key] = worker  # most recently used last
            # each replay worker holds 100-250 MB: keep the exercise's MISTAKE_WORKERS newest
            mine = [k for k in self._mistake_workers if k[0] == ex.id and k != key]
            old = [self._mistake_workers.pop(k) for k in mine[:max(0, len(mine) - MISTAKE_WORKERS + 1)]]
        for w in old:
            w.close()
        if worker is None or worker.dead is not None:
            with self._mistake_lock:
                if self._mistake_zygote is None:
                    self._mistake_zygote = self._trusted_zygote()
            files = self.mistakes.submission_files(ex.id, name)
            preload = preload_for(files, f"{ex.id}.py")
            worker = self._mistake_zygote.spawn(files, self.limits | {"preload": preload})
            with self._mistake_lock:
                self._mistake_workers[key] = worker
            try:
                worker.request({"op": "load", "module": ex.id}, ex.import_timeout)
            except (StudentError, WorkerLost):
                return None
            finally:
                worker.forget_stage()
        ctx = Ctx(ex.id, check.id, worker, self.reference, self.seed,
                  self.call_timeout or check.timeout or ex.timeout, ex.banned,
                  self.max_examples or ex.max_examples, self.mode)
        ctx.submission = self.submission
        ctx.banned_seen = []
        res = CheckResult(check.id, check.title, "failed", 0.0, 0.0)
        self._run_check(ex, check, ctx, res, None, [])
        return res.failure if res.status == "failed" else None

    def _close_mistake_workers(self, exercise: str) -> None:
        with self._mistake_lock:
            mine = [self._mistake_workers.pop(k) for k in [k for k in self._mistake_workers if k[0] == exercise]]
        for worker in mine:
            worker.close()

    def _annotate_dependencies(self, ex: Exercise, results: list[CheckResult]) -> None:
        """Within one exercise: a check of a function whose ``calls`` (metadata) fail points at them."""
        failing: dict[str, str] = {}
        for r in results:
            if r.status not in ("passed", "skipped") and r.uses:
                failing.setdefault(r.uses[0], r.id)
        for r in results:
            if not _may_have_cause(r):
                continue
            for used in r.uses[:1]:
                deps = [d for d in ex.calls.get(used, []) if d in failing and d != used]
                if deps:
                    r.cause = {"exercise": ex.id, "function": deps[0], "check": failing[deps[0]], "by": used,
                               "dep": deps[0]}
                    break

    def _annotate_causes(self, results: list[ExerciseResult], target: ExerciseResult) -> None:
        """Across exercises: a failing check whose function uses (statically, through the
        submission's imports) a function of another exercise that fails a correctness check
        of its own points at that function's root cause ("fix attention.scaled_dot_product_attention
        first (multihead builds on it)"), and its hints give way to that pointer."""
        from grader.banned import Submission, definitions_used

        ids = {e.id for e in results}
        results = [e for e in self.earlier if e.id not in ids] + list(results)
        by_ex = {e.id: e for e in results}
        failing: dict[tuple[str, str], CheckResult] = {}
        for e in results:
            for c in e.checks:
                if kind_of(c.kind).correctness and c.uses and c.status not in ("passed", "skipped"):
                    failing.setdefault((e.id, c.uses[0].split(".")[0]), c)
        if not failing:
            return
        if self._cause_sub is None:
            self._cause_sub = Submission(self.submission)
        sub = self._cause_sub
        done: dict[tuple[str, str], dict | None] = {}

        def root(ex_id: str, c: CheckResult, depth: int = 0) -> dict | None:
            key = (ex_id, c.id)
            if key in done:
                return done[key]
            done[key] = None  # a cycle names nothing
            found = None
            if depth < 20 and c.uses and by_ex[ex_id].rejected == "":
                try:
                    used = definitions_used(sub, ex_id, c.uses[0])
                except Exception:  # noqa: BLE001 - a pointer is a bonus, never a failure
                    used = []
                for mod, fn in used:
                    dep = failing.get((mod, fn))
                    if mod == ex_id or dep is None:
                        continue
                    deeper = root(mod, dep, depth + 1)
                    found = deeper or {"exercise": mod, "function": fn, "check": dep.id, "by": ex_id,
                                       "dep": f"{mod}.{fn}"}
                    if deeper:
                        found = {**deeper, "by": ex_id}
                    break
            done[key] = found
            return found

        for c in target.checks:
            if _may_have_cause(c):
                c.cause = root(target.id, c) or _elsewhere_cause(c) or c.cause


def not_imported_message(exercise: str) -> str:
    return msg("runner.not_imported", exercise=exercise)


SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")


def import_error_text(exercise: str, err: StudentError, submission: Path) -> str:
    """The exercise-level error: what went wrong, where (the innermost line of the student's
    code) and, for a syntax error, the line with a caret under the column Python points at."""
    head = msg("runner.import_error", exercise=exercise, type=err.type, message_=err.message)
    lines: list[str] = []
    frame = err.frames[-1] if err.frames else None
    if frame is None:
        return head
    fname, lineno, _func, code = (str(frame[0]), int(frame[1] or 0), frame[2], str(frame[3]))
    lines.append(f"exercises/{fname}:{lineno}")
    if code:
        lines.append(f"    {code}")
    if err.type in SYNTAX_ERRORS:
        column = _syntax_column(submission / fname, lineno)
        if column is not None and code:
            raw = column[1]
            indent = len(raw) - len(raw.lstrip())
            lines.append("    " + " " * max(0, min(column[0] - 1 - indent, len(code))) + "^")
    return msg("runner.import_error_at", head=head, where="\n".join(lines))


def _syntax_column(path: Path, lineno: int) -> tuple[int, str] | None:
    """(column, raw line) of the syntax error in ``path`` at ``lineno``: the trusted side
    compiles the text again (compiling runs nothing)."""
    from grader.banned import read_source

    try:
        source = read_source(path)
        compile(source, path.name, "exec", dont_inherit=True)
    except SyntaxError as exc:
        if exc.lineno == lineno and exc.offset:
            lines = source.splitlines()
            raw = lines[lineno - 1] if 0 < lineno <= len(lines) else (exc.text or "")
            return int(exc.offset), raw
        return None
    except Exception:  # noqa: BLE001 - the caret is a bonus, never a failure
        return None
    return None


def _may_have_cause(r: CheckResult) -> bool:
    """A check whose failure may come from a function it builds on (not a stub of its own)."""
    return (r.status not in ("passed", "skipped") and kind_of(r.kind).has_cause and r.failure is not None
            and not r.failure.not_implemented)


def _elsewhere_cause(r: CheckResult) -> dict | None:
    """The unfinished function of another file that raised NotImplementedError in this check."""
    f = r.failure
    if f is None or not f.message.startswith("NotImplementedError:") or not f.frames:
        return None
    fname, _line, func, _code = f.frames[-1][:4]
    stem = Path(str(fname)).stem
    return {"exercise": stem, "function": str(func), "check": "", "by": r.uses[0] if r.uses else "",
            "dep": f"{stem}.{func}"}


def keep_hypothesis_out_of(folder: Path) -> None:
    """Hypothesis keeps a cache (``.hypothesis/``) in the working directory, which is often the
    student's folder: point it at the user's cache instead (``HYPOTHESIS_STORAGE_DIRECTORY``
    still wins)."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    import tempfile

    from hypothesis.configuration import set_hypothesis_home_dir

    for base in (Path.home() / ".cache", Path(tempfile.gettempdir())):
        target = base / "transformer-grader" / "hypothesis"
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(target, os.W_OK) and not target.resolve().is_relative_to(folder.resolve()):
            set_hypothesis_home_dir(target)
            return


def withhold_points(checks: list[Check], results: list[CheckResult]) -> None:
    """Checks that do not test correctness (banned APIs; behaviour such as ValueError, dtype,
    no mutation; structure) give their points only when the correctness checks of the same
    functions or classes pass: code that does nothing must not collect them. Set the score of
    each passed one to 0, saying why, when a correctness check of one of the functions or
    classes it uses did not pass."""
    by_id = {r.id: r for r in results}
    for check in checks:
        res = by_id.get(check.id)
        if kind_of(check.kind).correctness or res is None or res.status != "passed" or not res.max_score:
            continue
        for used in check.uses:
            judged = [c for c in checks if kind_of(c.kind).correctness and kind_of(c.kind).subject(c) == used]
            failing = [c for c in judged if by_id.get(c.id) is None or by_id[c.id].status != "passed"]
            if failing:
                shown = [c.id for c in failing if not (by_id.get(c.id) and by_id[c.id].hidden)]
                res.score = 0.0
                res.withheld = msg("runner.withheld" if not shown else "runner.withheld_one" if len(shown) == 1
                                   else "runner.withheld_some", used=used, shown=", ".join(shown))
                break


@functools.lru_cache(maxsize=1)
def _measured() -> dict[str, float]:
    """Seconds each exercise took to grade on the reference (grader/course/durations.json,
    written by ``python bench/durations.py``): the order in which --jobs threads take them."""
    import json

    try:
        raw = json.loads((Path(__file__).resolve().parent / "course" / "durations.json").read_text())
        return {str(k): float(v) for k, v in raw.get("seconds", {}).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


TAIL_SECONDS = 1.0  # --jobs 2+: about this much of the shortest exercises is graded last


def expected_seconds(ex: Exercise) -> float:
    """How long ``ex`` should take: measured, else a tenth of its check timeout."""
    return _measured().get(ex.id, ex.timeout / 10)


def _give_back_memory() -> None:
    """Between exercises (``--jobs 1``): collect, and hand the heap's free pages back to the
    system (glibc keeps them otherwise), so the grading process does not grow run-long."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _freeze_heap() -> None:
    """Before the checks run: import what every exercise's checks use, collect once, and
    freeze what is alive (the grader, hypothesis, numpy and in official mode torch and the
    reference): the collector never walks these ~200,000 objects again (a local run's full
    collections: 0.33 s -> 0.11 s; official mode froze most of them already, forking the
    known mistakes' zygote). A frozen object still goes with its last reference; only a
    cycle among them would stay, and they live for the whole run anyway."""
    import gc

    import hypothesis  # noqa: F401 - imported now, to be frozen with the rest
    import hypothesis.extra.numpy  # noqa: F401

    gc.collect()
    gc.freeze()


def _import_torch() -> None:
    import torch

    # the reference runs small tensors: one thread is ~10x faster than two on a busy machine
    torch.set_num_threads(1)


def _first_of(err: BaseException, kinds: tuple) -> BaseException | None:
    stack = list(getattr(err, "exceptions", ()) or ())
    seen = 0
    while stack and seen < 50:
        e = stack.pop(0)
        seen += 1
        if isinstance(e, kinds):
            return e
        stack.extend(getattr(e, "exceptions", ()) or ())
    return None


def _student_cause(err: BaseException) -> StudentError | None:
    seen = 0
    stack = [err]
    while stack and seen < 50:
        e = stack.pop()
        seen += 1
        if isinstance(e, StudentError):
            return e
        stack.extend(getattr(e, "exceptions", ()) or ())
        if e.__cause__ is not None:
            stack.append(e.__cause__)
        if e.__context__ is not None:
            stack.append(e.__context__)
    return None


__all__ = ["Runner", "RunResult", "ExerciseResult", "CheckResult", "plain"]
