"""Generate the student stubs in ``exercises/`` from the reference in ``solutions/``.

A solution file marks what the student must write:

    def softmax(x, dim=-1):
        \"\"\"docstring, shown in both files\"\"\"
        # TODO: the hint the student sees (kept in both files)
        # BEGIN SOLUTION
        ...reference code...
        # END SOLUTION

The region from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` becomes
``raise NotImplementedError("<name>")`` at the marker's indentation, where ``<name>`` is
the enclosing function (or ``Class.method``). ``# BEGIN SOLUTION (remove)`` drops the region
instead (private helpers, solution-only imports).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?P<remove>\s*\(remove\))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
DEF = re.compile(r"^(?P<indent>\s*)(?:async\s+)?(?:def|class)\s+(?P<name>\w+)")


class MarkerError(ValueError):
    """A solution file whose markers do not pair up."""


def _enclosing(lines: list[str], upto: int, indent: str) -> str:
    """Qualified name of the def/class enclosing line ``upto`` (indented deeper than it)."""
    names: list[str] = []
    level = len(indent)
    for line in reversed(lines[:upto]):
        m = DEF.match(line)
        if m and len(m.group("indent")) < level:
            names.append(m.group("name"))
            level = len(m.group("indent"))
            if level == 0:
                break
    return ".".join(reversed(names)) or "solution"


def make_stub(source: str, filename: str = "<solution>") -> str:
    """Return the stub text for one solution file's text."""
    lines = source.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = BEGIN.match(lines[i])
        if m is None:
            if END.match(lines[i]):
                raise MarkerError(f"{filename}:{i + 1}: END SOLUTION without BEGIN")
            out.append(lines[i])
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not END.match(lines[j]):
            if BEGIN.match(lines[j]):
                raise MarkerError(f"{filename}:{j + 1}: nested BEGIN SOLUTION")
            j += 1
        if j == len(lines):
            raise MarkerError(f"{filename}:{i + 1}: BEGIN SOLUTION without END")
        if not m.group("remove"):
            name = _enclosing(lines, i, m.group("indent"))
            out.append(f'{m.group("indent")}raise NotImplementedError("{name}")')
        i = j + 1
    return "\n".join(out) + "\n"


def has_markers(source: str) -> bool:
    return any(BEGIN.match(line) or END.match(line) for line in source.splitlines())


def generate(solutions: Path, exercises: Path, check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) every stub; return the names that differ."""
    drift: list[str] = []
    for sol in sorted(solutions.glob("*.py")):
        stub = make_stub(sol.read_text(encoding="utf-8"), str(sol))
        target = exercises / sol.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != stub:
            drift.append(sol.name)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(stub, encoding="utf-8")
    return drift


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    root = Path(args[0]) if args else Path.cwd()
    drift = generate(root / "solutions", root / "exercises", check="--check" in args)
    for name in drift:
        print(("stale: " if "--check" in args else "wrote: ") + f"exercises/{name}")
    return 1 if drift and "--check" in args else 0


if __name__ == "__main__":
    raise SystemExit(main())
