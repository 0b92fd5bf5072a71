"""Parsing Python source in the grading process, one parse at a time.

The grading process grades exercises in threads, and several of them read source with
`ast.parse` (the ban scan, the snapshots' dependency hash, the instructor commands). CPython
keeps the AST constructor's recursion counter in the interpreter, not in the thread: when a
garbage collection during one thread's parse runs Python code and another thread parses in
the meantime, the first fails with a spurious `SystemError: AST constructor recursion depth
mismatch` (python/cpython gh-106905; seen on 3.11 here). Every parse in the grader goes
through `parse`, which holds a lock for the call.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, never at the same time as another thread's."""
    with _LOCK:
        return ast.parse(source, filename)
