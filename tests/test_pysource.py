"""Parsing source in the grading process's threads (grader/pysource.py).

Two threads in `ast.parse` at once, with a garbage collection running Python code in
between, fail on CPython 3.11 with a spurious `SystemError: AST constructor recursion depth
mismatch` (gh-106905). A whole-course grade hit it once in the ban scan and the snapshots'
dependency hash, and stopped with exit 3. The race harness below reproduces it with plain
`ast.parse` on 3.11 within a few hundred parses per thread.
"""

from __future__ import annotations

import ast
import sys
import threading
from pathlib import Path

from grader import pysource
from grader.pysource import parse

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "grader" / "runner.py").read_text(encoding="utf-8")


class _Finalized:
    """Cyclic garbage whose finalizer runs Python code: a collection inside the AST
    constructor then lets another thread run."""

    def __del__(self) -> None:
        sum(range(20))


def _race(parser, threads: int = 4, rounds: int = 50) -> list[BaseException]:
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(rounds):
            for _ in range(200):
                junk = _Finalized()
                junk.me = junk
            try:
                parser(SOURCE)
            except SystemError as exc:
                errors.append(exc)
                return

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        pool = [threading.Thread(target=work) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        sys.setswitchinterval(old)
    return errors


def test_parse_in_threads_never_raises_the_spurious_system_error():
    assert _race(parse) == []


def test_parse_gives_what_ast_parse_gives():
    assert ast.dump(parse(SOURCE)) == ast.dump(pysource._PLAIN(SOURCE))
    assert isinstance(parse("x: int = 1", "f.py", type_comments=True), ast.Module)


def test_the_grader_modules_that_parse_get_the_locked_parse():
    """The ban scan, the snapshots, the mistakes' headers and the instructor commands call
    ast.parse by name: once the runner is imported, that name is the locked parse."""
    import grader.banned
    import grader.instructor
    import grader.metadata
    import grader.runner
    import grader.snapshots

    offenders = []
    for mod in (grader.banned, grader.instructor, grader.metadata, grader.snapshots):
        path = Path(mod.__file__)
        for node in ast.walk(pysource._PLAIN(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "parse" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "ast":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders, "the modules that parse no longer call ast.parse: update this test"
    assert ast.parse is parse, offenders


def test_the_runner_locks_ast_parse_for_the_libraries_too():
    """hypothesis, inspect, numpy and torch call ast.parse in the grading threads as well."""
    import grader.runner  # noqa: F401 - importing the runner installs the lock

    assert ast.parse is parse
    assert _race(ast.parse) == []
