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


FORMATS = ["rich", "json", "gradescope", "junit", "markdown", "html"]


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
@click.option("--sandbox", "sandbox_level", type=click.Choice(["auto", "bwrap", "process"]), default="auto",
              show_default=True, help="Confinement of student code (auto: the strongest available).")
@click.option("--require-sandbox", is_flag=True,
              help="Refuse to grade (exit 3) unless the strong bubblewrap sandbox is available.")
@click.option("--watch", is_flag=True, help="Re-grade an exercise whenever its file is saved (Ctrl-C to stop).")
@click.option("--staff", is_flag=True, help="Show hidden checks in the report (course staff view).")
@click.option("--jobs", "-j", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Exercises graded at once (each in its own worker).")
def run_cmd(exercises: tuple[str, ...], submission: Path | None, reference: Path | None, mode: str,
            seed: int | None, fmts: tuple[str, ...], output: Path | None, output_dir: Path | None,
            fail_under: float | None, lang: str | None, max_examples: int | None, memory: int,
            sandbox_level: str, require_sandbox: bool, watch: bool, staff: bool, jobs: int) -> None:
    """Grade EXERCISES (default: all) and print a report."""
    submission, reference, mode = _resolve_paths(submission, reference, mode)
    selected = _select(exercises)
    lang = lang or default_lang()
    fmts = fmts or ("rich",)
    if len(fmts) > 1 and output_dir is None:
        raise click.UsageError("several --format values need --output-dir")
    if output is not None and output_dir is not None:
        raise click.UsageError("give --output or --output-dir, not both")
    from grader.pool import GraderError
    from grader.reports import make_console, render_exercise
    from grader.runner import Runner
    from grader.sandbox import SandboxUnavailable, choose
    from grader.sanitize import clean

    try:
        sandbox = choose(require_strong=require_sandbox or sandbox_level == "bwrap",
                         hide=[p for p in (reference,) if p is not None],
                         prefer="process" if sandbox_level == "process" else "auto")
    except SandboxUnavailable as err:
        click.echo(clean(f"grader error: {err}"), err=True)
        sys.exit(EXIT_GRADER)
    to_terminal = fmts == ("rich",) and output is None and output_dir is None
    console = make_console()
    hints = all_hints()
    streamed: dict = {}

    bar = None

    def progress(event: str, item) -> None:
        if not to_terminal:
            return
        if event == "start" and bar is not None:
            bar.update(task, description=f"grading {item.id}")
        if event == "done":
            streamed[item.id] = item
            render_exercise(console, item, lang, hints.get(item.id), streamed)
            if bar is not None:
                bar.advance(task)

    if watch:
        from grader.watch import watch_loop

        sys.exit(watch_loop(submission, selected, mode=mode, reference=reference, seed=seed,
                            sandbox=sandbox, console=console, lang=lang, hints=hints))
    try:
        runner = Runner(submission, selected, mode=mode, reference=reference, seed=seed,
                        sandbox=sandbox, memory=memory << 20, max_examples=max_examples,
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
        click.echo(clean(f"grader error: {err}"), err=True)
        sys.exit(EXIT_GRADER)
    _emit(result, fmts, output, output_dir, lang, hints, console, to_terminal, staff)
    code = EXIT_OK
    if result.grader_errors:
        code = EXIT_GRADER
    elif fail_under is not None and result.max_score and 100.0 * result.score / result.max_score < fail_under:
        code = EXIT_FAIL_UNDER
    _fast_exit(code)


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


def _emit(result, fmts, output, output_dir, lang, hints, console, to_terminal, staff: bool = False) -> None:
    from grader.reports import render_summary, write_atomic

    if to_terminal:
        render_summary(console, result, lang)
    elif output_dir is not None:
        from grader.formats import write_all

        for name, path in write_all(result, output_dir, list(fmts), lang, student=not staff,
                                    hints=hints).items():
            click.echo(f"wrote {name}: {path}", err=True)
    else:
        from grader.formats import render_format

        text = render_format(result, fmts[0], lang, student=not staff, hints=hints)
        if output:
            write_atomic(output, text)
        else:
            click.echo(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and not to_terminal:
        from grader.formats import markdown

        with open(summary, "a", encoding="utf-8") as f:
            f.write(markdown(result, lang) + "\n")


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
def batch_cmd(submissions: tuple[Path, ...], output_dir: Path, jobs: int | None, exercise_ids: tuple[str, ...],
              reference: Path | None, mode: str, seed: int | None, fmts: tuple[str, ...], lang: str | None,
              require_sandbox: bool) -> None:
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
                     lang=lang or default_lang(), require_sandbox=require_sandbox, progress=progress)
    click.echo(f"graded {len(rows)} submission(s): {output_dir / 'grades.csv'}")
    sys.exit(EXIT_GRADER if any(r["status"] == "grader error" for r in rows) else EXIT_OK)


@main.command("hint")
@click.argument("exercise")
@click.option("--level", type=int, default=None, help="Show this hint level (1 = first).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None)
def hint_cmd(exercise: str, level: int | None, lang: str | None) -> None:
    """Show the next hint for EXERCISE (each call goes one level deeper)."""
    from grader.metadata import load_exercises

    lang = lang or default_lang()
    known = {e.id: e for e in load_exercises()}
    if exercise not in known:
        raise click.UsageError(f"unknown exercise {exercise!r}")
    ex = known[exercise]
    state = Path.home() / ".cache" / "transformer-grader" / f"hint-{exercise}"
    try:
        seen = int(state.read_text()) if state.exists() else 0
    except ValueError:
        seen = 0
    lvl = (level - 1) if level else seen
    lines = []
    for fn, levels in ex.hints.items():
        if levels:
            h = levels[min(lvl, len(levels) - 1)]
            lines.append(f"{fn} (level {min(lvl, len(levels) - 1) + 1}/{len(levels)}): {h.get(lang) or h['en']}")
    click.echo("\n".join(lines) or "no hints for this exercise")
    if level is None:
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(str(seen + 1))


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
    from grader.pool import Zygote
    from grader.sandbox import choose

    ref = Reference(reference)
    mistakes = Mistakes(ref, (root or reference.parent) / "mistakes")
    zygote = Zygote(choose(hide=[reference]))
    try:
        for ex in _select(exercises):
            path = record(ex, ref, mistakes, zygote=zygote)
            click.echo(f"wrote {path}")
    finally:
        zygote.close()


from grader.instructor import register as _register_instructor  # noqa: E402 - after main exists

_register_instructor(main)


if __name__ == "__main__":
    main()
