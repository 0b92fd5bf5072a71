"""Parsing Python source in the grading process, one parse at a time.

The grading process grades exercises in threads, and several things in it read source with
`ast.parse`: the ban scan, the snapshots' dependency hash, the known mistakes' headers, and
libraries under them (hypothesis describes lambdas, `inspect` reads signatures, numpy reads
.npy headers, torch reads its own sources). CPython keeps the AST constructor's recursion
counter in the interpreter, not in the thread: when a garbage collection during one thread's
parse runs Python code and another thread parses in the meantime, the first fails with a
spurious `SystemError: AST constructor recursion depth mismatch` (python/cpython gh-106905;
seen on 3.11 here, where a whole-course grade stopped with exit 3). `install`, called when
the runner is imported, makes `ast.parse` itself the locked parse, so every caller, the
grader's own and the libraries', holds one lock.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.RLock()
_PLAIN = ast.parse


def parse(source: str | bytes, filename: str = "<unknown>", *args, **kwargs) -> ast.Module:
    """`ast.parse(source, filename, ...)`, never at the same time as another thread's."""
    with _LOCK:
        return _PLAIN(source, filename, *args, **kwargs)


def install() -> None:
    """Make `ast.parse` the locked parse for the whole grading process (idempotent)."""
    ast.parse = parse
