"""Instructor commands: ``grade stubs``, ``grade release``, ``grade new`` and ``grade check``.

They work on a course checkout (the folder holding ``solutions/``, ``exercises/``,
``mistakes/`` and ``grader/``) and are registered on the ``grade`` group by
:func:`register`. None of them is part of the student release: ``grade release`` ships a
``grader/instructor.py`` whose ``register`` adds nothing.

Exit codes: 0 all good; 1 something is off (stubs drift, a leak, a check that fails);
2 usage error (unknown exercise, an existing name, no course here); 3 the grader failed.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from grader.stubgen import BEGIN, END, MarkerError, generate, make_stub

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3
PACKAGE_DIR = Path(__file__).resolve().parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# --- where the course is --------------------------------------------------------------------


def course_root(start: Path | None = None) -> Path:
    """The course checkout at or above ``start`` (default: the working directory): the
    nearest folder holding ``solutions/``. Instructor commands need the reference."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "solutions").is_dir():
            return d
    raise click.UsageError("no solutions/ folder here or above: run this inside the course repository "
                           "(instructor commands need the reference solutions)")


def _same_package(root: Path) -> None:
    """Commands that write into ``grader/course`` must write into the grader that runs."""
    mine = (root / "grader").resolve()
    if mine != PACKAGE_DIR:
        raise click.UsageError(
            f"the grader running is {PACKAGE_DIR}, not this checkout's {mine}: install the checkout "
            "editable (pip install -e .) or run `python -m grader.cli ...` from its root")


def _select(names: Iterable[str]) -> list:
    from grader.metadata import load_exercises

    exercises = load_exercises()
    names = list(names)
    if not names:
        return exercises
    known = {e.id: e for e in exercises}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.UsageError(f"unknown exercise {unknown[0]!r}; known: {', '.join(known)}")
    return [known[n] for n in names]


# --- what must never reach students ---------------------------------------------------------


def solution_regions(source: str) -> list[list[str]]:
    """The lines inside each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region."""
    regions: list[list[str]] = []
    current: list[str] | None = None
    for line in source.splitlines():
        if BEGIN.match(line):
            current = []
        elif END.match(line):
            if current is not None:
                regions.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return regions


def _code(line: str) -> str:
    """A line as compared: stripped; blank and comment-only lines count as nothing."""
    s = line.strip()
    return "" if s.startswith("#") else s


def _norm(text: str) -> list[str]:
    return [s for s in map(_code, text.splitlines()) if s]


@dataclass
class Secrets:
    """Code students must not get: whole lines (long enough to say something) and pairs of
    consecutive lines, each mapped to the file it comes from."""

    lines: dict[str, str] = field(default_factory=dict)
    pairs: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, code: list[str], shown: set[str], where: str, min_len: int) -> None:
        for s in code:
            if len(s) >= min_len and s not in shown:
                self.lines.setdefault(s, where)
        for a, b in zip(code, code[1:]):
            if (a not in shown or b not in shown) and len(a) + len(b) >= min_len:
                self.pairs.setdefault((a, b), where)

    def found_in(self, text: str) -> tuple[str, str] | None:
        """(where, what) for the first secret in ``text``, compared line by line."""
        lines = _norm(text)
        present = set(lines)
        for s, where in self.lines.items():
            if s in present:
                return where, s
        for a, b in zip(lines, lines[1:]):
            where = self.pairs.get((a, b))
            if where:
                return where, f"{a} / {b}"
        return None


def secret_code(root: Path, min_len: int = 30) -> Secrets:
    """The code of every solution region and of every known mistake, less the lines the stubs
    show anyway (signatures, docstrings, TODOs). Whole lines count when they are at least
    ``min_len`` characters long (``return out`` says nothing); pairs of lines always count."""
    secrets = Secrets()
    stubs: dict[str, set[str]] = {}
    for sol in sorted((root / "solutions").glob("*.py")):
        source = sol.read_text(encoding="utf-8")
        shown = set(_norm(make_stub(source, str(sol))))
        stubs[sol.stem] = shown
        for region in solution_regions(source):
            secrets.add(_norm("\n".join(region)), shown, f"solutions/{sol.name}", min_len)
    for path in sorted((root / "mistakes").glob("*/*.py")):
        text = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        start = 0
        if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(
                getattr(tree.body[0], "value", None), ast.Constant):
            start = tree.body[0].end_lineno or 0  # the docstring: its sentences ship in snapshots
        code = [s for s in _norm("\n".join(text.splitlines()[start:]))
                if not s.startswith(("import ", "from "))]
        secrets.add(code, stubs.get(path.parent.name, set()), f"mistakes/{path.parent.name}/{path.name}", min_len)
    return secrets


# "mistakes/" followed by anything but a placeholder such as ``mistakes/<id>`` in a docstring
MISTAKE_PATH = re.compile(rb"mistakes/(?!<)")


def find_leaks(out: Path, root: Path) -> list[str]:
    """Everything under ``out`` that gives away the reference or the known mistakes: files
    in a solutions/ or mistakes/ folder, the solution markers, paths of mistake files, and
    (in text files) lines of solution regions or of known mistakes."""
    leaks: list[str] = []
    secrets = secret_code(root)
    for f in sorted(out.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(out)
        if {"solutions", "mistakes"} & set(rel.parts[:-1]):
            leaks.append(f"{rel}: an instructor-only folder")
        data = f.read_bytes()
        for marker in (b"BEGIN SOLUTION", b"END SOLUTION"):
            if marker in data:
                leaks.append(f"{rel}: contains {marker.decode()!r}")
        if MISTAKE_PATH.search(data):
            leaks.append(f"{rel}: names a file under mistakes/")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # snapshots, data: no source code in them
        hit = secrets.found_in(text)
        if hit:
            leaks.append(f"{rel}: contains code from {hit[0]}: {hit[1][:80]}")
    return leaks


def _imports_reference(path: Path, names: set[str]) -> bool:
    """Whether a module of the grader imports a reference module by its plain name (as the
    scripts that build the course's data files do): such a module is instructor-only."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in names for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in names:
            return True
    return False


# --- grade stubs ------------------------------------------------------------------------------


@click.command("stubs")
@click.option("--check", is_flag=True, help="Only compare: exit 1 when a stub differs from its solution.")
def stubs_cmd(check: bool) -> None:
    """(Instructors) Regenerate exercises/ from the solution markers in solutions/."""
    root = course_root()
    try:
        drift = generate(root / "solutions", root / "exercises", check=check)
    except MarkerError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_PROBLEMS)
    for name in drift:
        click.echo(("stale: " if check else "wrote: ") + f"exercises/{name}")
    orphans = sorted({p.name for p in (root / "exercises").glob("*.py")}
                     - {p.name for p in (root / "solutions").glob("*.py")})
    for name in orphans:
        click.echo(f"note: exercises/{name} has no solution (not generated)")
    if not drift:
        click.echo("stubs are up to date")
    elif check:
        click.echo("run `grade stubs` to regenerate them", err=True)
        sys.exit(EXIT_PROBLEMS)


# --- grade release ----------------------------------------------------------------------------

RELEASE_INSTRUCTOR = '''"""The instructor commands are not part of the student release."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Nothing to add: students grade with ``grade``, ``grade hint`` and their options."""
'''

# not shipped: instructor-only modules (stubgen.py documents the solution markers)
INSTRUCTOR_ONLY = {"instructor.py", "stubgen.py"}


def release_pyproject(root: Path) -> str:
    """The student distribution's pyproject.toml: the same package, dependencies and ``grade``
    command, installable with ``pip install .``. Built by flit_core, which ships every file of
    the package folder (catalogs, snapshots, data) and leaves no ``build/`` or ``*.egg-info``
    beside the student's exercises."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = data.get("project", {})
    q = lambda v: json.dumps(v, ensure_ascii=False)  # TOML basic strings and arrays of them
    deps = "".join(f"  {q(d)},\n" for d in project.get("dependencies", []))
    return f"""[build-system]
requires = ["flit_core>=3.9,<5"]
build-backend = "flit_core.buildapi"

[project]
name = {q(project.get("name", "transformer-grader"))}
version = {q(project.get("version", "0.0.0"))}
description = {q((project.get("description") or "Graded exercises") + " (student release)")}
readme = "README.md"
requires-python = {q(project.get("requires-python", ">=3.10"))}
dependencies = [
{deps}]

[project.scripts]
grade = "grader.cli:main"

[tool.flit.module]
name = "grader"
"""


RELEASE_README = """# Transformers, from word vectors to LoRA — graded exercises

Fill in the stubs in `exercises/`, run `grade`, read the report, repeat.
(在 `exercises/` 中补全代码，运行 `grade`，阅读报告，再改进。)

## Set up (once)

Python ≥ 3.10. In this folder:

```bash
python -m venv .venv
source .venv/bin/activate          # Windows: .venv\\Scripts\\activate
pip install torch --index-url https://download.pytorch.org/whl/cpu   # optional: a small CPU-only torch
pip install .
```

`pip install .` installs the grader and the `grade` command. Your code is not installed:
`grade` reads it from the `exercises/` folder of the folder you run it in (or any folder
above it), so edit `exercises/*.py` freely and never reinstall.

## Grade

```bash
grade                  # every exercise
grade attention        # one exercise (several: grade attention masking)
grade hint attention   # the next hint for an exercise; run it again for a deeper one
grade --lang zh        # the report in Chinese (报告使用中文)
```

Start with the exercise the report points at (`start here: exercises/<id>.py · <function>`);
each module's docstrings give the shapes and the contract of every function.

## What the report shows

For each exercise its score and one line per check (✓ passed, ✗ failed, ! error,
⏱ timeout). For a failed check:

- what was checked, and the smallest input on which your code fails;
- expected vs got: shapes, a few values, the largest error and where it is;
- the lines of your own code in the traceback;
- the name of the mistake, when the grader recognises a common one
  (for example "Your scores are not divided by sqrt(dk).");
- a hint, and "fix X first" when a check fails only because a function it builds on fails.

At the end: the total and what to do next.

## Local grade and official grade

Here `grade` runs in **local mode**: it checks properties (shapes, rows that sum to 1, no
peeking at future tokens, ...) and compares your outputs with the reference's outputs
recorded on fixed inputs. Your official grade is computed by the course staff in official
mode, which also compares your code with the reference on fresh random inputs and may run
checks whose details are hidden. Code that is correct passes both; code that only fits the
recorded inputs does not.

Each exercise runs in its own process with time and memory limits; a crash or an endless
loop fails that exercise's remaining checks, and the others are still graded.

## Options

| option | meaning |
|---|---|
| `grade [EXERCISE...]` | grade all exercises, or the ones named |
| `--submission DIR` | the folder with your exercise modules (default `./exercises`) |
| `--seed N` | seed for the drawn inputs of the property checks (default 0) |
| `--format rich\\|json`, `--output FILE` | report format and file |
| `--fail-under X` | exit 1 when the score is below X percent |
| `--lang en\\|zh` | report language (default: from the locale) |

Exit codes: `0` grading ran (whatever the score), `1` below `--fail-under`, `2` usage error,
`3` grader error (not your fault: tell the course staff).

## Rules

Do not change the names, signatures or documented behaviour of the functions and classes in
`exercises/`; add helpers if you like. Some exercises ban library shortcuts (for example
`torch.softmax` in the softmax exercise): the docstring says which, and the grader checks.
"""


def build_release(root: Path, out: Path, package: Path = PACKAGE_DIR, verify: bool = True,
                  log: Callable[[str], None] = lambda s: None) -> list[str]:
    """Write the student distribution of the course at ``root`` to ``out`` (absent or empty).
    Returns the problems found; with any, ``out`` is removed again."""
    out = out.resolve()
    problems: list[str] = []
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise click.UsageError(f"{out} exists and is not empty: choose a new folder")
    for inside in (package, root / "solutions", root / "mistakes", root / "exercises"):
        if out == inside.resolve() or out.is_relative_to(inside.resolve()):
            raise click.UsageError(f"{out} is inside {inside}: choose a folder elsewhere")
    solutions = root / "solutions"
    names = {p.stem for p in solutions.glob("*.py")}
    if verify:
        problems += verify_course(root, log)
        if problems:
            return problems
    made = not out.exists()
    try:
        # stubs, generated afresh from the reference (the committed ones may lag behind)
        (out / "exercises").mkdir(parents=True, exist_ok=True)
        for sol in sorted(solutions.glob("*.py")):
            stub = make_stub(sol.read_text(encoding="utf-8"), str(sol))
            (out / "exercises" / sol.name).write_text(stub, encoding="utf-8")

        # the grader, less what is instructor-only
        def ignore(folder: str, entries: list[str]) -> set[str]:
            skip = set()
            for e in entries:
                p = Path(folder) / e
                if e in ("__pycache__", ".hypothesis") or e.endswith((".pyc", ".pyo", ".tmp", ".orig", "~")):
                    skip.add(e)
                elif p.resolve().parent == package and e in INSTRUCTOR_ONLY:
                    skip.add(e)
                elif e.endswith(".py") and p.is_file() and _imports_reference(p, names):
                    log(f"left out {p.relative_to(package.parent)} (it imports the reference)")
                    skip.add(e)
            return skip

        shutil.copytree(package, out / "grader", ignore=ignore)
        (out / "grader" / "instructor.py").write_text(RELEASE_INSTRUCTOR, encoding="utf-8")
        (out / "pyproject.toml").write_text(release_pyproject(root), encoding="utf-8")
        (out / "README.md").write_text(RELEASE_README, encoding="utf-8")
        leaks = find_leaks(out, root)
    except BaseException:
        _remove(out, made)
        raise
    if leaks:
        _remove(out, made)
        return [f"leak: {s}" for s in leaks]
    return []


def _remove(out: Path, made: bool) -> None:
    if made:
        shutil.rmtree(out, ignore_errors=True)
    else:
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def verify_course(root: Path, log: Callable[[str], None] = lambda s: None) -> list[str]:
    """What must hold before a release: every exercise has a reference, valid metadata and
    fresh snapshots (local mode judges with them); the committed stubs match the solutions."""
    from grader.metadata import SNAPSHOT_DIR, load_exercises, validate
    from grader.reference import Reference
    from grader.snapshots import stale

    exercises = load_exercises()
    problems = list(validate(exercises))
    drift = generate(root / "solutions", root / "exercises", check=True)
    problems += [f"exercises/{n} differs from its solution: run `grade stubs`" for n in drift]
    ref = Reference(root / "solutions")
    for ex in exercises:
        if not (root / "solutions" / f"{ex.id}.py").is_file():
            problems.append(f"{ex.id}: no solutions/{ex.id}.py")
            continue
        log(f"checking the snapshot of {ex.id}")
        try:
            problems += [f"{p}: run `grade snapshot {ex.id}`" for p in stale(ex, ref, SNAPSHOT_DIR, root / "mistakes")]
        except Exception as err:  # noqa: BLE001 - a broken exercise is a problem to report
            problems.append(f"{ex.id}: snapshot check failed: {type(err).__name__}: {err}")
    return problems


@click.command("release")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("--no-verify", is_flag=True,
              help="Skip checking metadata, stubs and snapshots first (the leak scan always runs).")
def release_cmd(out: Path, no_verify: bool) -> None:
    """(Instructors) Write the student distribution to OUT: stubs, grader, snapshots; no solutions."""
    root = course_root()
    _same_package(root)
    t0 = time.monotonic()
    problems = build_release(root, out, verify=not no_verify, log=lambda s: click.echo(s, err=True))
    if problems:
        for p in problems:
            click.echo(f"✗ {p}", err=True)
        click.echo("no release written", err=True)
        sys.exit(EXIT_PROBLEMS)
    files = [f for f in out.rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    click.echo(f"wrote {out}: {len(files)} files, {size / 1024:.0f} KiB, in {time.monotonic() - t0:.1f} s; "
               f"no solution text, no known mistakes")
    click.echo(f"students: pip install {out} && cd {out} && grade")


# --- grade new --------------------------------------------------------------------------------

NEW_SOLUTION = '''"""Exercise `__NAME__` — __TITLE__.

Lecture: (which part of the course this practises).
Shapes: `...` is any number of leading batch dims.

(Instructors: this file is the reference. Write each function whole, and put the part the
student must write between the solution markers; `grade stubs` turns every marked region
into `raise NotImplementedError` in exercises/__NAME__.py, keeping the TODO line above it.
Replace the example below with the exercise.)
"""

from __future__ import annotations

import torch


def center(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Subtract the mean along ``dim`` / 沿 ``dim`` 减去均值.

    center(x) = x - mean(x, dim)      (the first step of LayerNorm)

    Args:
        x: Float[...], any shape, float32 or float64.
        dim: the axis to centre.
    Returns:
        a tensor of x's shape and dtype whose mean along ``dim`` is 0.
    """
    # TODO: take the mean along `dim` with keepdim=True, and subtract it.
    # BEGIN SOLUTION
    return x - x.mean(dim=dim, keepdim=True)
    # END SOLUTION
'''

NEW_CHECKS = '''"""Checks for `__NAME__`: __TITLE__.

(Instructors: one compare check and one property check on the example function; replace them
with the exercise's checks. Every check declares its points (`points=`; their sum is the
exercise's `points` in course.toml), and every check must
fail for at least one known mistake in mistakes/__NAME__/. Comparisons run the reference on
the cases below: recorded as snapshots for local mode (`grade snapshot __NAME__`), and on
fresh draws in official mode. Properties need no reference; see grader/checks.py for the
other kinds and for Ctx.)
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader.checks import Case, Checks, expect_array, fail, noncontig

checks = Checks("__NAME__")


@checks.compare("center_reference", "center matches the reference", fn="center", points=2,
                zh="center 与参考实现一致")
def _(rng):
    # shapes where batch != width, both dtypes, another dim, a non-contiguous input
    yield Case(args=(rng.standard_normal((2, 3)),))
    yield Case(args=(rng.standard_normal((4, 5, 6)) * 3 + 1,))
    yield Case(args=(rng.standard_normal((3, 4)).astype(np.float32),))
    yield Case(args=(rng.standard_normal((3, 4)),), kwargs={"dim": 0})
    yield Case(args=(noncontig(rng.standard_normal((5, 3))),))


@checks.property("center_properties", "center: same shape and dtype, mean 0 along dim, only a shift per row",
                 uses=("center",), points=2, zh="center：形状与 dtype 不变，沿 dim 的均值为 0，每行只平移")
def _(ctx):
    @ctx.given(st.integers(2, 4), st.integers(1, 6), st.integers(0, 2**31 - 1))
    def prop(B, D, seed):
        x = np.random.default_rng(seed).standard_normal((B, D)) * 3 + 1
        y = expect_array(ctx.call_keep_inputs("center", x), x.shape, np.float64, "center")
        means = y.mean(axis=-1)
        if not np.allclose(means, 0.0, atol=1e-9):
            row = int(np.argmax(np.abs(means)))
            fail("center_properties.row_mean", row=row, mean=means[row],
                 expected="mean 0 in every row", got=np.array2string(means, precision=4))
        shift = x - y
        if not np.allclose(shift, shift[:, :1]):
            fail("center_properties.one_shift")

    prop()


@checks.behaviour("center_behaviour", "center keeps the dtype and does not modify its input",
                  uses=("center",), points=1, zh="center 保持 dtype，且不修改输入")
def _(ctx):
    for dtype in (np.float32, np.float64):
        x = (np.random.default_rng(0).standard_normal((3, 4)) * 2 + 1).astype(dtype)
        ctx.last_input = f"center({np.dtype(dtype).name}[3, 4])"
        y = ctx.call_keep_inputs("center", x)  # fails when x was modified in place
        expect_array(y, x.shape, dtype, "center")
'''

NEW_MISTAKES = {
    "center_global_mean": '''"""You subtract the mean of the whole tensor, not the mean along `dim`.

zh: 你减去的是整个张量的均值，而不是沿 `dim` 的均值。
catches: center_reference, center_properties
"""


def center(x, dim=-1):
    return x - x.mean()
''',
    "center_ignores_dim": '''"""You always centre the last axis and ignore `dim`.

zh: 你总是对最后一维居中，忽略了 `dim`。
catches: center_reference
"""


def center(x, dim=-1):
    return x - x.mean(dim=-1, keepdim=True)
''',
    "center_in_place": '''"""You subtract the mean from x in place: the caller's tensor changes.

zh: 你原地修改了 x：调用者的张量被改变了。
catches: center_behaviour
"""


def center(x, dim=-1):
    x -= x.mean(dim=dim, keepdim=True)
    return x
''',
    "center_float32": '''"""You compute in float32 and return float32, whatever the input's dtype.

zh: 你用 float32 计算并返回 float32，不管输入是什么 dtype。
catches: center_behaviour
"""


def center(x, dim=-1):
    x = x.float()
    return x - x.mean(dim=dim, keepdim=True)
''',
    "center_divides_by_std": '''"""You also divide by the standard deviation: that is normalising, not centring.

zh: 你还除以了标准差：那是归一化，不是居中。
catches: center_reference, center_properties
"""


def center(x, dim=-1):
    m = x.mean(dim=dim, keepdim=True)
    return (x - m) / x.std(dim=dim, keepdim=True)
''',
}

NEW_CATALOG = {"en": '''# The failure messages of grader/course/__NAME__.py: `fail("<check id>.<name>", arg=...)`
# renders the template of that id ({arg} for what varies; see grader/messages.py). Every id needs
# an entry in every language folder, with the same {fields}.

[center_properties]
row_mean = "row {row} of the output has mean {mean:.3g}; it must be 0"
one_shift = "center must subtract one number per row (its mean), not change values one by one"
''', "zh": '''# Chinese for the failure messages of grader/course/__NAME__.py (the ids of ../en/__NAME__.toml).

[center_properties]
row_mean = "输出的第 {row} 行均值为 {mean:.3g}；应为 0"
one_shift = "center 必须每行减去同一个数（该行的均值），而不是逐个改变元素"
'''}

NEW_ORACLE = '''"""Oracle test for `__NAME__`: the reference against an implementation nobody on the team wrote.

(Instructors: replace the example with the library function the exercise re-implements.)
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_center_matches_torch():
    from tests.harness import SOLUTIONS  # noqa: F401 - puts solutions/ on sys.path (conftest)

    mod = pytest.importorskip("__NAME__")
    if not hasattr(mod, "center"):
        pytest.skip("fill in the oracle test for __NAME__ (the scaffold's example was replaced)")
    x = torch.randn(3, 5, dtype=torch.float64)
    # LayerNorm without scaling subtracts the mean (and divides by the std): undo the division
    ln = torch.nn.functional.layer_norm(x, (5,), eps=0.0)
    want = ln * x.var(-1, unbiased=False, keepdim=True).sqrt()
    torch.testing.assert_close(mod.center(x), want)
'''

NEW_TOML = '''
[[exercises]]
id = "__NAME__"
title = { en = __TITLE_TOML__ }
order = __ORDER__
after = []
points = 5
timeout = 10
# banned = { center = ["torch.nn.functional.layer_norm"] }
# banned_points = 1  (the banned_apis check's points; add them to `points`)
# calls = { center = [] }
# hidden = []

[exercises.hints]
center = [
  { en = "x.mean(dim=dim, keepdim=True) keeps the axis, so it broadcasts back against x.", \
zh = "x.mean(dim=dim, keepdim=True) 保留该维度，于是可以与 x 广播相减。" },
]
'''

RESERVED = {"grader", "torch", "numpy", "hypothesis", "click", "rich", "tests", "exercises", "solutions",
            "mistakes", "conftest", "engine", "report"}  # the last two: catalogs of their own


@click.command("new")
@click.argument("name")
@click.option("--title", default=None, help="The exercise's title (English; add zh in course.toml).")
def new_cmd(name: str, title: str | None) -> None:
    """(Instructors) Scaffold exercise NAME: solution, stub, checks, metadata, catalog, five known
    mistakes and an oracle test, which `grade snapshot NAME` then `grade check NAME` accept."""
    from grader.metadata import COURSE_DIR, load_exercises

    root = course_root()
    _same_package(root)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in RESERVED or name in sys.stdlib_module_names:
        raise click.UsageError(f"{name!r}: use a new lowercase module name (letters, digits, _) that is "
                               "not a Python module of its own")
    exercises = load_exercises()
    paths = {"solution": root / "solutions" / f"{name}.py", "stub": root / "exercises" / f"{name}.py",
             "checks": COURSE_DIR / f"{name}.py", "mistakes": root / "mistakes" / name,
             "snapshot": COURSE_DIR / "snapshots" / f"{name}.snap",
             "catalog": COURSE_DIR / "i18n" / "en" / f"{name}.toml",
             "catalog_zh": COURSE_DIR / "i18n" / "zh" / f"{name}.toml",
             "oracle": root / "tests" / f"test_oracle_{name}.py"}
    taken = [str(p.relative_to(root)) for p in paths.values() if p.exists()]
    if any(e.id == name for e in exercises):
        taken.insert(0, "course.toml")
    if taken:
        raise click.UsageError(f"exercise {name!r} exists already ({', '.join(taken)})")
    title = title or name.replace("_", " ").capitalize()
    order = max((e.order for e in exercises), default=0) + 10
    toml_path = COURSE_DIR / "course.toml"
    old_toml = toml_path.read_text(encoding="utf-8")
    fill = lambda text: text.replace("__NAME__", name).replace("__TITLE__", title)
    solution = fill(NEW_SOLUTION)
    entry = (NEW_TOML.replace("__NAME__", name).replace("__TITLE_TOML__", json.dumps(title, ensure_ascii=False))
             .replace("__ORDER__", str(order)))
    written: list[Path] = []
    try:
        for key, text in (("solution", solution), ("stub", make_stub(solution, str(paths["solution"]))),
                          ("checks", fill(NEW_CHECKS))):
            paths[key].parent.mkdir(parents=True, exist_ok=True)
            paths[key].write_text(text, encoding="utf-8")
            written.append(paths[key])
        paths["mistakes"].mkdir(parents=True)
        written.append(paths["mistakes"])
        for stem, text in NEW_MISTAKES.items():
            (paths["mistakes"] / f"{stem}.py").write_text(text, encoding="utf-8")
        for key, text in (("catalog", fill(NEW_CATALOG["en"])), ("catalog_zh", fill(NEW_CATALOG["zh"])),
                          ("oracle", fill(NEW_ORACLE))):
            paths[key].parent.mkdir(parents=True, exist_ok=True)
            paths[key].write_text(text, encoding="utf-8")
            written.append(paths[key])
        toml_path.write_text(old_toml.rstrip("\n") + "\n" + entry, encoding="utf-8")
        new = [e for e in load_exercises(toml_path) if e.id == name]
        if len(new) != 1:
            raise RuntimeError("the new course.toml entry did not parse")
    except BaseException:
        toml_path.write_text(old_toml, encoding="utf-8")
        for p in reversed(written):
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        raise
    for p in (*written[:3], *sorted(paths["mistakes"].glob("*.py")), paths["catalog"], paths["catalog_zh"],
              paths["oracle"], toml_path):
        click.echo(f"wrote {p.relative_to(root)}")
    click.echo(f"""
next:
  1. write the exercise in solutions/{name}.py (code to hide between the solution markers), then
     `grade stubs` to regenerate exercises/{name}.py
  2. write its checks in grader/course/{name}.py, each with its points= (course.toml's
     `points` = their sum); hints, and banned APIs or hidden checks if any, in course.toml
  3. replace the five known mistakes in mistakes/{name}/ (docstring: the sentence, zh:, catches:;
     at least five, and every check failed by one); every failure message by id in
     grader/course/i18n/en/{name}.toml and its Chinese in grader/course/i18n/zh/{name}.toml;
     an oracle test in tests/test_oracle_{name}.py
  4. `grade snapshot {name}` to record the reference's outputs for local mode
  5. `grade check {name}` until it passes""")


# --- grade check ------------------------------------------------------------------------------


@dataclass
class ExerciseReport:
    """What ``grade check`` found for one exercise."""

    id: str
    reference: str = "-"
    stub: str = "-"
    caught: tuple[int, int] = (0, 0)
    named: tuple[int, int] = (0, 0)
    snapshot: str = "-"
    flaky: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def _verdicts(result: Any) -> dict[str, bool]:
    return {c.id: c.status == "passed" for e in result.exercises for c in e.checks}


def _failing(result: Any) -> str:
    bad = [f"{c.id} ({c.status}: {c.message[:120]})" for e in result.exercises for c in e.checks
           if c.status != "passed"]
    return "; ".join(bad[:4]) + (f"; and {len(bad) - 4} more" if len(bad) > 4 else "")


MIN_MISTAKES = 5  # known mistakes an exercise needs


def replay_names(ex: Any, files: list[Path], infos: dict[str, dict], runs: dict[str, Any]) -> None:
    """Name the property-style failures of each mistake's run as official mode's replay would
    (``Runner._name_by_replay``): the first known mistake, in file order, whose `catches:`
    names the check and which fails it with the same verdict (``kinds.name_by_verdict``: message,
    failing input, expected and got), from the runs of every mistake with the same seed (so no
    mistake is graded twice)."""
    from grader.kinds import name_by_verdict, nameable

    failures = {name: {c.id: c.failure for e in run.exercises for c in e.checks
                       if c.status == "failed" and c.failure is not None}
                for name, run in runs.items()}
    for run in runs.values():
        for c in (c for e in run.exercises for c in e.checks):
            if nameable(c) and not c.failure.diagnosis:
                name_by_verdict(c.failure, c.id, files, lambda path: infos[path.stem],
                                lambda path, cid=c.id: failures.get(path.stem, {}).get(cid))


class CourseChecker:
    """Grades the reference, the stub and every known mistake of exercises, with one zygote."""

    def __init__(self, root: Path, seeds: int = 3, zygote: Any = None,
                 log: Callable[[str], None] = lambda s: None, rerun: bool = True) -> None:
        from grader.host.sandbox import choose

        self.root = root
        self.solutions = root / "solutions"
        self.seeds = list(range(1, max(1, seeds) + 1))
        self.rerun = rerun  # grade the first seed twice (the flake scan); tests/test_course.py does not
        self.sandbox = choose()
        self.log = log
        self._own = zygote is None
        if zygote is None:
            from grader.host.pool import Zygote

            zygote = Zygote(self.sandbox)
        self.zygote = zygote
        self.tmp = Path(tempfile.mkdtemp(prefix="grade-check-"))

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self._own:
            self.zygote.close()

    def grade(self, submission: Path, ex: Any, mode: str, seed: int | None) -> Any:
        from grader.runner import Runner

        # Naming a property-style failure by replaying every known mistake (the runner's
        # name_mistakes) is left out: every mistake is graded here anyway, with the same seed,
        # and `replay_names` names from those runs exactly as the replay would.
        runner = Runner(submission, [ex], mode=mode, reference=self.solutions if mode == "official" else None,
                        seed=seed, sandbox=self.sandbox, zygote=self.zygote, name_mistakes=False)
        return runner.run()

    def run_seeds(self) -> list[int]:
        return [*self.seeds, self.seeds[0]] if self.rerun else list(self.seeds)

    def runs(self, submission: Path, ex: Any) -> list[Any]:
        """Official runs with every seed, then the first seed again (the flake scan)."""
        return [self.grade(submission, ex, "official", s) for s in self.run_seeds()]

    def flaky(self, runs: list[Any], what: str) -> list[str]:
        first = _verdicts(runs[0])
        out = []
        for seed, run in zip(self.run_seeds(), runs):
            now = _verdicts(run)
            for cid in first:
                if now.get(cid) != first[cid] and f"{what}: {cid}" not in out:
                    out.append(f"{what}: {cid}")
                    self.log(f"  flaky: {what} {cid} is {'passed' if now.get(cid) else 'failed'} "
                             f"with seed {seed}, {'passed' if first[cid] else 'failed'} with seed {self.seeds[0]}")
        return out

    def submission(self, ex_id: str, mistake: Path) -> Path:
        """Every reference module, with the mistake appended to the exercise's (tests/harness.py)."""
        from grader.reference import mistake_submission

        sub = self.tmp / f"{ex_id}-{mistake.stem}"
        if sub.exists():
            shutil.rmtree(sub)
        sub.mkdir(parents=True)
        for name, data in mistake_submission(self.solutions, ex_id, mistake).items():
            (sub / name).write_bytes(data)
        return sub

    def check(self, ex: Any, meta_problems: list[str]) -> ExerciseReport:
        from grader.metadata import SNAPSHOT_DIR, mistake_info
        from grader.reference import Reference
        from grader.snapshots import stale

        t0 = time.monotonic()
        rep = ExerciseReport(ex.id)
        rep.problems += meta_problems
        sol = self.solutions / f"{ex.id}.py"
        stub = self.root / "exercises" / f"{ex.id}.py"
        if not sol.is_file():
            rep.problems.append(f"no solutions/{ex.id}.py")
            return rep
        try:
            check_ids = [c.id for c in ex.checks()]
        except Exception as err:  # noqa: BLE001
            if not any("do not load" in p for p in rep.problems):
                rep.problems.append(f"the checks do not load: {type(err).__name__}: {err}")
            return rep
        grader_errors: list[str] = []

        # the reference: full marks in official mode (every seed) and in local mode
        self.log(f"{ex.id}: reference")
        runs = self.runs(self.solutions, ex)
        grader_errors += [g for r in runs for g in r.grader_errors]
        bad = [r for r in runs if r.score != r.max_score]
        official_ok = not bad and runs[0].max_score > 0
        if not official_ok:
            rep.problems.append(f"reference (official): {_failing(bad[0] if bad else runs[0]) or 'no points'}")
        rep.flaky += self.flaky(runs, "reference")
        local = self.grade(self.solutions, ex, "local", None)
        grader_errors += local.grader_errors
        local_ok = local.score == local.max_score
        if not local_ok:
            rep.problems.append(f"reference (local): {_failing(local)}")
        rep.reference = ("full" if official_ok and local_ok else
                         f"{runs[0].score:g}/{runs[0].max_score:g} · local {local.score:g}")

        # the untouched stub: zero, and every check fails
        self.log(f"{ex.id}: stub")
        if not stub.is_file():
            rep.problems.append(f"no exercises/{ex.id}.py: run `grade stubs`")
        else:
            if stub.read_text(encoding="utf-8") != make_stub(sol.read_text(encoding="utf-8"), str(sol)):
                rep.problems.append(f"exercises/{ex.id}.py differs from its solution: run `grade stubs`")
            res = self.grade(self.root / "exercises", ex, "official", self.seeds[0])
            grader_errors += res.grader_errors
            vacuous = [cid for cid, ok in _verdicts(res).items() if ok]
            if vacuous:
                rep.problems.append(f"stub passes vacuously: {', '.join(vacuous)}")
            if res.score:
                rep.problems.append(f"stub scores {res.score:g}")
            if res.exercises and not res.exercises[0].not_started:
                rep.problems.append("the stub is not reported as not started (a check fails it otherwise "
                                    "than by NotImplementedError)")
            rep.stub = "0" if not vacuous and not res.score else f"{res.score:g} ({len(vacuous)} pass)"

        # every known mistake loses points where its `catches:` says, and is named
        files = sorted((self.root / "mistakes" / ex.id).glob("*.py"))
        infos = {p.stem: mistake_info(p) for p in files}
        first_runs: dict[str, Any] = {}
        caught = 0
        failed_by: dict[str, set[str]] = {c: set() for c in check_ids}  # check -> mistakes that fail it
        from grader.messages import gaps

        for path in files:
            self.log(f"{ex.id}: mistake {path.stem}")
            catches = infos[path.stem]["catches"]
            unknown = [c for c in catches if c not in check_ids]
            if not catches:
                rep.problems.append(f"mistake {path.stem}: no `catches:` line")
            if not infos[path.stem]["zh"]:
                rep.problems.append(f"mistake {path.stem}: no `zh:` line (the Chinese report's sentence)")
            if unknown:
                rep.problems.append(f"mistake {path.stem}: names unknown checks {unknown}")
            runs = self.runs(self.submission(ex.id, path), ex)
            grader_errors += [g for r in runs for g in r.grader_errors]
            first_runs[path.stem] = runs[0]
            verdicts = _verdicts(runs[0])
            missed = [c for c in catches if verdicts.get(c)]
            if missed:
                rep.problems.append(f"mistake {path.stem}: passes {', '.join(missed)}, which its `catches:` names")
            if runs[0].score >= runs[0].max_score:
                rep.problems.append(f"mistake {path.stem}: scores full marks")
            elif catches and not missed and not unknown:
                caught += 1
            for cid, ok in verdicts.items():
                if not ok and cid in failed_by:
                    failed_by[cid].add(path.stem)
            for c in (c for e in runs[0].exercises for c in e.checks):  # every message from a catalog
                if c.status == "failed" and c.failure and not c.failure.not_implemented:
                    for gap in sorted(set(gaps(c.raw_message or c.message) + gaps(c.failure.error))):
                        rep.problems.append(f"mistake {path.stem}: the message of {c.id}: {gap}")
            rep.flaky += self.flaky(runs, path.stem)
        replay_names(ex, files, infos, first_runs)

        outcomes = {name: [(c.id, c.status, c.raw_message or c.message) for e in run.exercises for c in e.checks]
                    for name, run in first_runs.items()}
        diagnosed = {name: {c.diagnosis for e in run.exercises for c in e.checks if c.status != "passed"}
                     for name, run in first_runs.items()}  # what the report names
        texts = {name: info["en"] for name, info in infos.items()}
        named = 0
        for name, diagnoses in diagnosed.items():
            if texts[name] in diagnoses:
                named += 1
            else:
                rep.notes.append(f"mistake {name} is not named in the report")
        rep.caught, rep.named = (caught, len(files)), (named, len(files))
        if len(files) < MIN_MISTAKES:
            rep.problems.append(f"{len(files)} known mistakes in mistakes/{ex.id}/: at least {MIN_MISTAKES} needed")
        unfailed = [c for c, by in failed_by.items() if not by]
        if files and unfailed:
            rep.problems.append(f"failed by no known mistake (it may check nothing): {', '.join(unfailed)}")
        by_text = {text: name for name, text in reversed(list(texts.items()))}  # the first file wins
        for name, run in first_runs.items():
            wrong: dict[str, list[str]] = {}  # other mistake -> checks whose report names it
            for c in (c for e in run.exercises for c in e.checks):
                other = by_text.get(c.diagnosis) if c.status != "passed" and c.diagnosis else None
                if other is not None and other != name and c.diagnosis != texts[name]:
                    wrong.setdefault(other, []).append(c.id)
            for other, cids in wrong.items():
                if texts[name] in diagnosed[name]:  # also named as itself: the report says both
                    rep.notes.append(f"mistake {name} is also reported as {other!r} by {', '.join(cids)}")
                elif outcomes.get(other) == outcomes.get(name):
                    rep.problems.append(f"mistakes {name} and {other} behave identically (same verdicts and "
                                        f"messages; {name} is reported as {other}): drop one, or make them differ")
                else:
                    rep.problems.append(f"mistake {name} is reported as another mistake, {other!r} "
                                        f"(\"{texts[other][:60]}\"), by {', '.join(cids)}")
        if rep.flaky:
            rep.problems.append("flaky (verdict changes with the seed or between runs): " + ", ".join(rep.flaky))

        # snapshots match the reference
        try:
            old = stale(ex, Reference(self.solutions), SNAPSHOT_DIR, self.root / "mistakes")
        except Exception as err:  # noqa: BLE001
            old = [f"{ex.id}: {type(err).__name__}: {err}"]
        rep.snapshot = "ok" if not old else ("missing" if all(p.endswith("no snapshot") for p in old)
                                             else "stale")
        if old:
            rep.problems += [f"snapshot: {p} (run `grade snapshot {ex.id}`)" for p in old]

        # the reference agrees with itself in float32 and float64 (the snapshot cannot tell)
        from grader.snapshots import precision_disagreements

        try:
            rep.problems += [f"precision: {p}" for p in precision_disagreements(ex, Reference(self.solutions))]
        except Exception as err:  # noqa: BLE001
            rep.problems.append(f"precision: {ex.id}: {type(err).__name__}: {err}")
        rep.problems += [f"grader error: {g.splitlines()[0]}" for g in dict.fromkeys(grader_errors)]
        rep.seconds = round(time.monotonic() - t0, 1)
        return rep


def check_course(root: Path, exercises: list[Any], seeds: int = 3, zygote: Any = None,
                 log: Callable[[str], None] = lambda s: None) -> list[ExerciseReport]:
    """Run every instructor check on ``exercises`` of the course at ``root``."""
    from grader.metadata import load_exercises, validate

    every = load_exercises()
    try:
        meta = validate(every)
    except Exception:  # noqa: BLE001 - a check module that does not import: find which, per exercise
        ids = {e.id for e in every}
        meta = []
        for ex in every:
            try:
                meta += [p for p in validate([ex]) if not any(p.endswith(f"unknown exercise {d!r}") for d in ids)]
            except Exception as err:  # noqa: BLE001
                meta.append(f"{ex.id}: the checks do not load: {type(err).__name__}: {err}")
    checker = CourseChecker(root, seeds, zygote, log)
    try:
        reports = []
        for ex in exercises:
            mine = [p.split(": ", 1)[1] if p.startswith(f"{ex.id}: ") else p
                    for p in meta if p.startswith(f"{ex.id}:")]
            reports.append(checker.check(ex, [f"metadata: {p}" for p in mine]))
        return reports
    finally:
        checker.close()


def render_reports(reports: list[ExerciseReport], console: Any, verbose: bool = False) -> None:
    from rich.table import Table

    table = Table(title="grade check", title_justify="left", show_lines=False)
    for col in ("exercise", "reference", "stub", "caught", "named", "snapshot", "flaky", "s"):
        table.add_column(col, justify="right" if col in ("caught", "named", "s") else "left", no_wrap=True)
    for r in reports:
        mark = "[green]✓[/]" if r.ok else "[red]✗[/]"
        caught = f"{r.caught[0]}/{r.caught[1]}"
        table.add_row(f"{mark} {r.id}", r.reference, r.stub,
                      caught if r.caught[0] == r.caught[1] else f"[red]{caught}[/]",
                      f"{r.named[0]}/{r.named[1]}", r.snapshot,
                      "none" if not r.flaky else f"[red]{len(r.flaky)}[/]", f"{r.seconds:.0f}")
    console.print(table)
    for r in reports:
        for p in r.problems:
            console.print(f"[red]✗[/] {r.id}: {p}", markup=True, highlight=False)
        if verbose:
            for n in r.notes:
                console.print(f"  {r.id}: {n}", style="dim")


@click.command("check")
@click.argument("exercises", nargs=-1)
@click.option("--seeds", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Grade the reference and each mistake with this many seeds (and the first twice).")
@click.option("--verbose", "-v", is_flag=True, help="Also list the mistakes the report does not name.")
def check_cmd(exercises: tuple[str, ...], seeds: int, verbose: bool) -> None:
    """(Instructors) Check exercises: reference full marks, stub zero, mistakes caught, no flakes."""
    from grader.host.pool import GraderError
    from grader.reports import make_console

    root = course_root()
    selected = _select(exercises)
    console = make_console()
    err = make_console(file=sys.stderr)
    t0 = time.monotonic()
    try:
        with err.status("checking…", spinner="dots") as status:
            reports = check_course(root, selected, seeds,
                                   log=lambda s: status.update(f"checking {s}…"))
    except GraderError as exc:
        click.echo(f"grader error: {exc}", err=True)
        sys.exit(EXIT_GRADER)
    render_reports(reports, console, verbose)
    bad = [r.id for r in reports if not r.ok]
    named = sum(r.named[0] for r in reports), sum(r.named[1] for r in reports)
    console.print(f"{len(reports) - len(bad)}/{len(reports)} exercises pass; known mistakes named in the "
                  f"report: {named[0]}/{named[1]}; {time.monotonic() - t0:.0f} s", highlight=False)
    sys.exit(EXIT_PROBLEMS if bad else EXIT_OK)


# --- registration ---------------------------------------------------------------------------


def register(main: click.Group) -> None:
    """Add the instructor commands to the ``grade`` group."""
    for cmd in (stubs_cmd, release_cmd, new_cmd, check_cmd):
        main.add_command(cmd)
