"""Where a submission's exercise modules are: one rule for ``grade --submission`` and
``grade batch``.

Students hand in the course folder in many shapes: the modules themselves, the repository
(modules in ``exercises/``), or that repository inside a folder of its own (Gradescope's
upload of a GitHub repository, a zip of the folder). The modules are looked for at the top
of the submission, in its ``exercises/``, and in its only top-level folder (and that folder's
``exercises/``); the place holding the most of the course's modules wins, the first of those
in that order on a tie. When none holds any, the report says so and lists what it saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from grader.messages import msg

SKIP = (".", "__")  # .git, .github, __MACOSX, __pycache__: never the student's folder
SHOWN = 20  # entries of the submission listed in the report


@dataclass
class Found:
    folder: Path | None  # the folder holding the modules, or None when no place holds any
    looked: list[Path] = field(default_factory=list)  # the places looked in
    root: Path | None = None
    names: list[str] = field(default_factory=list)  # the module names looked for

    def problem(self) -> str:
        """The report's sentence when nothing was found (empty when something was)."""
        if self.folder is not None or self.root is None:
            return ""
        where = ", ".join(_rel(p, self.root) for p in self.looked)
        wanted = ", ".join(f"{n}.py" for n in self.names[:4])
        if len(self.names) > 4:
            wanted = msg("discover.and_more", names=wanted, n=len(self.names) - 4)
        return msg("discover.nothing_found", wanted=wanted, where=where, listing=_listing(self.root))


def find_modules(root: Path, names: Iterable[str]) -> Found:
    """The folder of ``root`` (a submission) that holds the modules ``<name>.py``."""
    root = Path(root)
    names = list(names)
    places = [root, root / "exercises"]
    children = [c for c in _entries(root) if c.is_dir() and not c.name.startswith(SKIP)]
    if len(children) == 1:
        places += [children[0], children[0] / "exercises"]
    places = [p for p in places if p.is_dir()]
    best, best_n = None, 0
    for place in places:
        n = sum((place / f"{name}.py").is_file() for name in names)
        if n > best_n:
            best, best_n = place, n
    return Found(best, places, root, names)


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError:
        return []


def _rel(path: Path, root: Path) -> str:
    if path == root:
        return msg("discover.top")
    return str(path.relative_to(root)).replace("\\", "/") + "/"


def _listing(root: Path) -> str:
    """What the submission holds, two levels deep, for a person to see what went wrong."""
    shown: list[str] = []
    for entry in _entries(root):
        if entry.is_dir():
            inner = [e.name + ("/" if e.is_dir() else "") for e in _entries(entry)]
            more = f", … {len(inner) - 5} more" if len(inner) > 5 else ""
            shown.append(f"{entry.name}/ ({', '.join(inner[:5]) + more})" if inner else f"{entry.name}/ (empty)")
        else:
            shown.append(entry.name)
    if not shown:
        return msg("discover.empty")
    if len(shown) > SHOWN:
        return msg("discover.holds_more", what="; ".join(shown[:SHOWN]), n=len(shown) - SHOWN)
    return msg("discover.holds", what="; ".join(shown))


def not_graded(exercises: list, *, mode: str, seed: int, sandbox: str, problem: str = "",
               error: str = "", submission: str = ""):
    """A result with no exercise graded: the score is 0 of the selection's maximum, and the
    report carries ``problem`` (the submission's fault) or ``error`` (the grader's)."""
    from grader.runner import RunResult, versions

    return RunResult(score=0.0, max_score=float(sum(sum(e.checks_points.values()) for e in exercises)),
                     mode=mode, seed=seed, sandbox=sandbox, versions=versions(sandbox), exercises=[],
                     seconds=0.0, grader_errors=[error] if error else [], submission=submission,
                     problem=problem)


__all__ = ["Found", "find_modules", "not_graded"]
