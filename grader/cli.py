"""How a person asks: the ``grade`` command.

Exit codes: 0 grading ran (whatever the score); 1 the score is below ``--fail-under``;
2 usage error (bad option, unknown exercise, no submission folder); 3 the grader itself
failed (a bug or a broken install: never the student's fault).
"""

from __future__ import annotations

import locale
import os
import sys
from pathlib import Path

import click

from grader import __version__

EXIT_OK, EXIT_FAIL_UNDER, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3


def default_lang() -> str:
    for key in ("GRADER_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(key, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "zh" if loc.lower().startswith("zh") else "en"


class DefaultGroup(click.Group):
    """``grade [EXERCISE...]`` grades; ``grade SUBCOMMAND`` runs a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="grade")
def main() -> None:
    """Grade the Transformer course exercises.

    \b
    grade                      grade every exercise in ./exercises
    grade attention masking    grade some exercises
    grade hint attention       the next hint for a failing exercise
    grade snapshot             (instructors) record reference outputs for local mode

    Exit codes: 0 graded, 1 below --fail-under, 2 usage error, 3 grader error.
    """


def _resolve_paths(submission: Path | None, reference: Path | None, mode: str) -> tuple[Path, Path | None, str]:
    from grader.metadata import find_course_root

    root = find_course_root()
    if submission is None:
        if root is None:
            raise click.UsageError("no exercises/ folder here or above: run grade inside the course "
                                   "folder, or pass --submission DIR")
        submission = root / "exercises"
    if not submission.is_dir():
        raise click.UsageError(f"--submission {submission}: not a folder")
    if reference is None and mode != "local":
        for base in (submission.parent, root):
            if base is not None and (base / "solutions").is_dir():
                reference = base / "solutions"
                break
    if mode == "official" and reference is None:
        raise click.UsageError("--mode official needs the reference: pass --reference DIR")
    if mode == "auto":
        mode = "official" if reference is not None else "local"
    if mode == "local":
        reference = None
    return submission, reference, mode


def _select(names: tuple[str, ...]):
    from grader.metadata import load_exercises

    exercises = load_exercises()
    if not names:
        return exercises
    known = {e.id: e for e in exercises}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.UsageError(f"unknown exercise {unknown[0]!r}; known: {', '.join(known)}")
    return [known[n] for n in names]


def all_hints() -> dict:
    from grader.metadata import load_exercises

    return {e.id: e.hints for e in load_exercises()}


from grader.formats import FORMATS  # noqa: E402 - the one table of report formats


@main.command("run")
@click.argument("exercises", nargs=-1)
@click.option("--submission", type=click.Path(path_type=Path, file_okay=False),
              help="Folder with the student's exercise modules (default: ./exercises).")
@click.option("--reference", type=click.Path(path_type=Path, file_okay=False),
              help="Folder with the reference solutions (official mode; default: solutions/ beside "
                   "the exercises when present).")
@click.option("--mode", type=click.Choice(["auto", "local", "official"]), default="auto", show_default=True,
              help="local: properties and snapshots; official: also fresh inputs against the reference.")
@click.option("--seed", type=int, default=None,
              help="Seed for drawn inputs (default: local 0, official a hash of the submission).")
@click.option("--format", "fmts", type=click.Choice(FORMATS), multiple=True,
              help="Report format; repeat it (with --output-dir) to write several at once. Default: rich.")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the (single) report to this file, atomically, instead of stdout.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write every --format into this folder (report.json, results.json, junit.xml, "
                   "summary.md, report.html, report.txt).")
@click.option("--fail-under", type=float, default=None,
              help="Exit 1 when the score (percent of the maximum) is below this.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None, help="Report language (default: locale).")
@click.option("--max-examples", type=int, default=None, help="Hypothesis examples per property.")
@click.option("--memory", type=int, default=2048, show_default=True, help="Worker memory limit in MiB.")
@click.option("--sandbox", "sandbox_level", type=click.Choice(["auto", "bwrap", "uid", "process"]), default="auto",
              show_default=True, help="Confinement of student code (auto: the strongest available; "
                                      "see README, Security).")
@click.option("--require-sandbox", is_flag=True,
              help="Refuse to grade (exit 3, saying why) unless a level that hides the reference runs "
                   "here: bwrap, or uid (as root where namespaces are refused).")
@click.option("--watch", is_flag=True, help="Re-grade an exercise whenever its file is saved (Ctrl-C to stop).")
@click.option("--staff", is_flag=True, help="Show hidden checks in every report (course staff view); "
                                            "the default is the student view, hidden checks as counts.")
@click.option("--verbose", "-v", is_flag=True, help="List every passing check (by default they are folded "
                                                  "to one line per exercise).")
@click.option("--jobs", "-j", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Exercises graded at once (each in its own worker).")
def run_cmd(exercises: tuple[str, ...], submission: Path | None, reference: Path | None, mode: str,
            seed: int | None, fmts: tuple[str, ...], output: Path | None, output_dir: Path | None,
            fail_under: float | None, lang: str | None, max_examples: int | None, memory: int,
            sandbox_level: str, require_sandbox: bool, watch: bool, staff: bool, verbose: bool, jobs: int) -> None:
    """Grade EXERCISES (default: all) and print a report."""
    lang = lang or default_lang()
    fmts = fmts or ("rich",)
    failure = _FailureReport(fmts, output, output_dir, lang, staff)
    failure.verbose = verbose
    try:
        code = _grade(exercises, submission, reference, mode, seed, fmts, output, output_dir, fail_under, lang,
                      max_examples, memory, sandbox_level, require_sandbox, watch, staff, jobs, failure,
                      verbose=verbose)
    except click.UsageError as err:
        failure.write(f"usage error: {err.format_message()}")
        raise
    except GraderFailed as err:
        click.echo(f"grader error: {err}", err=True)
        failure.write(str(err))
        code = EXIT_GRADER
    except Exception as err:  # noqa: BLE001 - a bug or a broken install: still leave a report
        import traceback

        traceback.print_exc()
        failure.write(f"{type(err).__name__}: {err}")
        code = EXIT_GRADER
    _fast_exit(code)


class GraderFailed(RuntimeError):
    """Grading could not run or finish (refused sandbox, a dead worker factory, ...)."""


class _FailureReport:
    """When grading cannot run, every report asked for is still written: score 0 and the
    reason (Gradescope shows a results.json's output to students and staff; without one it
    shows only "the autograder failed to produce results")."""

    def __init__(self, fmts: tuple[str, ...], output: Path | None, output_dir: Path | None, lang: str,
                 staff: bool) -> None:
        self.fmts, self.output, self.output_dir, self.lang, self.staff = fmts, output, output_dir, lang, staff
        self.exercises: list = []
        self.mode, self.sandbox = "unknown", "none"
        self.done = False
        self.verbose = False

    def write(self, reason: str) -> None:
        if self.done or (self.output is None and self.output_dir is None and self.fmts == ("rich",)):
            return
        self.done = True
        message = f"The grader could not grade this submission: {reason}"
        try:
            from grader.discover import not_graded
            from grader.metadata import load_exercises

            exercises = self.exercises or load_exercises()
            result = not_graded(exercises, mode=self.mode, seed=0, sandbox=self.sandbox, error=message)
            _emit(result, self.fmts, self.output, self.output_dir, self.lang, {}, None, False, self.staff,
                  self.verbose)
        except Exception as err:  # noqa: BLE001 - the formats themselves are broken: plain JSON
            click.echo(f"grader error: could not write the reports ({type(err).__name__}: {err})", err=True)
            self._bare(message)

    def _bare(self, message: str) -> None:
        import json

        doc = {"score": 0.0, "output": message, "output_format": "text", "visibility": "visible",
               "stdout_visibility": "hidden", "tests": []}
        if "gradescope" in self.fmts:
            path = self.output_dir / "results.json" if self.output_dir else self.output
            if path is None:
                click.echo(json.dumps(doc))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(doc), encoding="utf-8")


def _grade(exercises: tuple[str, ...], submission: Path | None, reference: Path | None, mode: str,
           seed: int | None, fmts: tuple[str, ...], output: Path | None, output_dir: Path | None,
           fail_under: float | None, lang: str, max_examples: int | None, memory: int,
           sandbox_level: str, require_sandbox: bool, watch: bool, staff: bool, jobs: int,
           failure: _FailureReport, verbose: bool = False) -> int:
    if len(fmts) > 1 and output_dir is None:
        raise click.UsageError("several --format values need --output-dir")
    if output is not None and output_dir is not None:
        raise click.UsageError("give --output or --output-dir, not both")
    if os.environ.get("GRADER_TEST_INJECT_BUG") == "cli":  # for the tests only
        raise RuntimeError("injected grader bug")
    selected = _select(exercises)
    failure.exercises = selected
    given = submission
    submission, reference, mode = _resolve_paths(submission, reference, mode)
    failure.mode = mode
    from grader.host.sandbox import SandboxUnavailable, choose
    from grader.sanitize import clean

    try:
        sandbox = choose(require_strong=require_sandbox, hide=[p for p in (reference,) if p is not None],
                         prefer=sandbox_level)
    except SandboxUnavailable as err:
        raise GraderFailed(clean(f"refused to grade: {err}")) from None
    failure.sandbox = sandbox.level
    zygote = None
    if not watch:
        from grader.host.pool import Zygote

        # the zygote's import of torch is most of a short run: start it before the grader's own imports
        zygote = Zygote(sandbox, branches=jobs > 1)
    try:
        return _grade_with(selected, given, submission, reference, mode, seed, fmts, output, output_dir,
                           fail_under, lang, max_examples, memory, sandbox, watch, staff, jobs, verbose,
                           zygote, failure)
    finally:
        if zygote is not None:
            zygote.close()


def _grade_with(selected, given, submission, reference, mode, seed, fmts, output, output_dir, fail_under,
                lang, max_examples, memory, sandbox, watch, staff, jobs, verbose, zygote,
                failure: _FailureReport) -> int:
    from grader.discover import find_modules, not_graded
    from grader.host.pool import GraderError
    from grader.metadata import load_exercises
    from grader.reports import make_console, render_exercise
    from grader.runner import Runner
    from grader.sanitize import clean

    to_terminal = fmts == ("rich",) and output is None and output_dir is None
    console = make_console()
    hints = all_hints()

    found = find_modules(submission, [e.id for e in load_exercises()])
    if found.folder is None:
        result = not_graded(selected, mode=mode, seed=seed or 0, sandbox=sandbox.level,
                            problem=found.problem(), submission=str(given or submission))
        _emit(result, fmts, output, output_dir, lang, hints, console, to_terminal, staff, verbose)
        return EXIT_FAIL_UNDER if fail_under is not None and fail_under > 0 else EXIT_OK
    submission = found.folder

    streamed: dict = {}
    bar = None

    def progress(event: str, item) -> None:
        if not to_terminal:
            return
        if event == "start" and bar is not None:
            bar.update(task, description=f"grading {item.id}")
        if event == "done":
            streamed[item.id] = item
            render_exercise(console, item, lang, hints.get(item.id), streamed, student=not staff, verbose=verbose)
            if bar is not None:
                bar.advance(task)

    if watch:
        from grader.watch import watch_loop

        # the loop closed its zygote: _fast_exit skips the interpreter teardown, in which
        # Python 3.13 reports the control socket's buffered writer as "Exception ignored"
        return watch_loop(submission, selected, mode=mode, reference=reference, seed=seed,
                          sandbox=sandbox, console=console, lang=lang, hints=hints, staff=staff)
    try:
        runner = Runner(submission, selected, mode=mode, reference=reference, seed=seed,
                        sandbox=sandbox, zygote=zygote, memory=memory << 20, max_examples=max_examples,
                        progress=progress, jobs=jobs)
        if to_terminal and console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("starting the worker…", total=len(selected))
                result = runner.run()
        else:
            result = runner.run()
    except GraderError as err:
        raise GraderFailed(clean(str(err))) from None
    _emit(result, fmts, output, output_dir, lang, hints, console, to_terminal, staff, verbose)
    failure.done = True
    if result.grader_errors:
        return EXIT_GRADER
    if fail_under is not None and result.max_score and 100.0 * result.score / result.max_score < fail_under:
        return EXIT_FAIL_UNDER
    return EXIT_OK


def _fast_exit(code: int) -> None:
    """Every report is written and every worker is gone: skip the slow interpreter teardown
    (torch's) when run as the `grade` program; behave normally when called in-process."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.environ.get("GRADER_NO_FAST_EXIT") or not _is_main_program():
        sys.exit(code)
    os._exit(code)


def _is_main_program() -> bool:
    main_mod = sys.modules.get("__main__")
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    return argv0 in ("grade", "cli.py", "__main__.py") or getattr(main_mod, "__package__", None) == "grader"


def _emit(result, fmts, output, output_dir, lang, hints, console, to_terminal, staff: bool = False,
          verbose: bool = False) -> None:
    from grader.reports import render_summary, write_atomic

    if to_terminal:
        render_summary(console, result, lang, student=not staff)
    elif output_dir is not None:
        from grader.formats import write_all

        for name, path in write_all(result, output_dir, list(fmts), lang, student=not staff,
                                    hints=hints, verbose=verbose).items():
            click.echo(f"wrote {name}: {path}", err=True)
    else:
        from grader.formats import render_format

        text = render_format(result, fmts[0], lang, student=not staff, hints=hints, verbose=verbose)
        if output:
            write_atomic(output, text)
        else:
            click.echo(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and not to_terminal:
        from grader.formats import markdown

        with open(summary, "a", encoding="utf-8") as f:
            f.write(markdown(result, lang, student=not staff, hints=hints) + "\n")


@main.command("batch")
@click.argument("submissions", nargs=-1, required=True,
                type=click.Path(path_type=Path, exists=True))
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="One folder of reports per submission, plus grades.csv and grades.json.")
@click.option("--jobs", "-j", type=int, default=None, help="Submissions graded at once (default: CPU count).")
@click.option("--exercise", "exercise_ids", multiple=True, help="Grade only these exercises (repeatable).")
@click.option("--reference", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Reference solutions (official mode; default: ./solutions when present).")
@click.option("--mode", type=click.Choice(["auto", "local", "official"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=None, help="Fixed seed (default: per submission, from its files).")
@click.option("--format", "fmts", type=click.Choice(FORMATS), multiple=True,
              help="Report formats per submission (default: json).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None)
@click.option("--require-sandbox", is_flag=True, help="Refuse to grade unless bubblewrap is available.")
@click.option("--staff", is_flag=True, help="Show hidden checks in every report (course staff view); "
              "the default is what a student may see.")
def batch_cmd(submissions: tuple[Path, ...], output_dir: Path, jobs: int | None, exercise_ids: tuple[str, ...],
              reference: Path | None, mode: str, seed: int | None, fmts: tuple[str, ...], lang: str | None,
              require_sandbox: bool, staff: bool) -> None:
    """(Course staff) Grade many SUBMISSIONS (folders or .zip files) in parallel."""
    from grader.batch import cpu_count, run_batch
    from grader.metadata import find_course_root

    _select(exercise_ids)
    if reference is None and mode != "local":
        root = find_course_root()
        if root is not None and (root / "solutions").is_dir():
            reference = root / "solutions"
    if mode == "official" and reference is None:
        raise click.UsageError("--mode official needs --reference")
    mode = ("official" if reference is not None else "local") if mode == "auto" else mode
    if mode == "local":
        reference = None

    from grader.sanitize import clean

    def progress(row: dict) -> None:
        click.echo(clean(f"{row['name']}: {row['status']} {row['score']:g}/{row['max_score']:g}"), err=True)

    rows = run_batch(list(submissions), output_dir, jobs=jobs or cpu_count(), mode=mode, reference=reference,
                     seed=seed, exercises=list(exercise_ids), formats=list(fmts or ("json",)),
                     lang=lang or default_lang(), require_sandbox=require_sandbox, progress=progress, staff=staff)
    click.echo(f"graded {len(rows)} submission(s): {output_dir / 'grades.csv'}")
    sys.exit(EXIT_GRADER if any(r["status"] == "grader error" for r in rows) else EXIT_OK)


@main.command("hint")
@click.argument("exercise")
@click.option("--submission", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The folder with the exercise modules (default: ./exercises).")
@click.option("--level", type=int, default=None, help="Show this hint level (1 = first) without moving on.")
@click.option("--reset", is_flag=True, help="Start this exercise's hints again from level 1.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None)
def hint_cmd(exercise: str, submission: Path | None, level: int | None, reset: bool, lang: str | None) -> None:
    """Show the next hint for the first failing function of EXERCISE.

    Each call goes one level deeper for that function; the levels reached are kept per
    checkout, in SUBMISSION/.grader/hints.json."""
    import json

    from grader.host.sandbox import choose
    from grader.metadata import load_exercises
    from grader.runner import Runner

    lang = lang or default_lang()
    known = {e.id: e for e in load_exercises()}
    if exercise not in known:
        raise click.UsageError(f"unknown exercise {exercise!r}")
    ex = known[exercise]
    submission = (submission or Path("exercises")).resolve()
    state_file = submission / ".grader" / "hints.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        state = state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        state = {}
    zh = lang == "zh"
    if reset:
        state = {k: v for k, v in state.items() if not k.startswith(f"{exercise}.")}
        _save_hints(state_file, state)
        click.echo(f"{exercise}: 提示已重置" if zh else f"{exercise}: hints start again from level 1")
        return
    result = Runner(submission, [ex], mode="local", reference=None, seed=0,
                    sandbox=choose(prefer="auto"), name_mistakes=False).run()
    failing = next((c for c in result.exercises[0].checks if c.status != "passed"), None)
    if failing is None:
        click.echo(f"{exercise} 已全部通过：不需要提示" if zh else f"{exercise} already passes: no hint needed")
        return
    fn = next((u for u in failing.uses if ex.hints.get(u)), None) or next(
        (f for f in ex.hints if ex.hints[f]), None)
    if fn is None:
        click.echo("这个练习没有提示" if zh else "no hints for this exercise")
        return
    levels = ex.hints[fn]
    key = f"{exercise}.{fn}"
    seen = int(state.get(key, 0)) if str(state.get(key, 0)).isdigit() else 0
    lvl = min((level - 1) if level else seen, len(levels) - 1)
    h = levels[max(lvl, 0)]
    click.echo(f"{fn} ({'第' if zh else 'level '}{lvl + 1}/{len(levels)}{' 级' if zh else ''}): "
               f"{h.get(lang) or h['en']}")
    if lvl + 1 >= len(levels):
        click.echo("这是最后一级提示。" if zh else "this is the last hint for it.")
    if level is None:
        state[key] = min(seen + 1, len(levels))
        _save_hints(state_file, state)


def _save_hints(path: Path, state: dict) -> None:
    import json

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    except OSError:
        pass  # a read-only checkout: the hint is still shown


@main.command("snapshot")
@click.argument("exercises", nargs=-1)
@click.option("--reference", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Reference solutions (default: ./solutions).")
def snapshot_cmd(exercises: tuple[str, ...], reference: Path | None) -> None:
    """(Instructors) Record the reference outputs on fixed inputs for local mode."""
    from grader.metadata import find_course_root
    from grader.reference import Mistakes, Reference
    from grader.snapshots import record

    root = find_course_root()
    reference = reference or (root / "solutions" if root else None)
    if reference is None or not reference.is_dir():
        raise click.UsageError("no solutions/ folder: pass --reference DIR")
    from grader.host.pool import Zygote
    from grader.host.sandbox import choose

    ref = Reference(reference)
    mistakes = Mistakes(ref, (root or reference.parent) / "mistakes")
    zygote = Zygote(choose(hide=[reference]))
    try:
        for ex in _select(exercises):
            path = record(ex, ref, mistakes, zygote=zygote)
            click.echo(f"wrote {path}")
    finally:
        zygote.close()


from grader.chat import chat_command  # noqa: E402 - after main exists
from grader.instructor import register as _register_instructor  # noqa: E402 - after main exists

main.add_command(chat_command)

_register_instructor(main)


if __name__ == "__main__":
    main()
