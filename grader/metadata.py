"""The course as data: exercise metadata (``grader/course/course.toml``), each exercise's
check module (``grader/course/<id>.py``), and where a course's folders are on disk."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # grader.checks (numpy, the worker pool) is imported when checks are needed
    from grader.checks import Check, Checks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COURSE_DIR = Path(__file__).resolve().parent / "course"
SNAPSHOT_DIR = COURSE_DIR / "snapshots"


@dataclass
class Exercise:
    id: str
    title: dict[str, str]
    order: int
    points: int
    after: list[str] = field(default_factory=list)
    banned: dict[str, list[str]] = field(default_factory=dict)
    banned_points: int | None = None  # the points of the banned_apis check that `banned` adds
    hints: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    calls: dict[str, list[str]] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)
    timeout: float = 10.0
    import_timeout: float = 20.0
    max_examples: int = 25
    budget: float | None = None  # seconds for all of the exercise's checks (None: from its checks)
    bonus: bool = False
    requires: list[str] = field(default_factory=list)  # pip requirements, e.g. "peft>=0.17"
    raw_keys: list[str] = field(default_factory=list)  # the keys its course.toml entry has

    def missing_requirements(self) -> list[str]:
        """The ``requires`` whose package cannot be imported here (nothing is imported)."""
        import importlib.util
        import re

        missing = []
        for req in self.requires:
            name = re.match(r"[A-Za-z0-9_.\-]*", req).group().replace("-", "_")
            try:
                found = importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(req)
        return missing

    @property
    def checks_points(self) -> dict[str, int]:
        """Points per check, as each check declares them (``points=`` in its decorator)."""
        return {c.id: int(c.points or 0) for c in self.checks()}

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or self.title.get("en") or self.id

    def checks(self) -> list[Check]:
        module = importlib.import_module(f"grader.course.{self.id}")
        registry: Checks = module.checks
        items = list(registry)
        if self.banned:
            from grader.banned import banned_check

            items.append(banned_check(self))
        return items


class CourseError(ValueError):
    """The course metadata is inconsistent (an instructor's mistake, not a student's)."""


def load_exercises(path: Path | None = None) -> list[Exercise]:
    data = tomllib.loads((path or COURSE_DIR / "course.toml").read_text(encoding="utf-8"))
    out = []
    for raw in data.get("exercises", []):
        ex = Exercise(
            id=raw["id"],
            title=raw.get("title", {"en": raw["id"]}),
            order=int(raw.get("order", 0)),
            points=int(raw.get("points", 0)),
            after=list(raw.get("after", [])),
            banned={k: list(v) for k, v in raw.get("banned", {}).items()},
            banned_points=int(raw["banned_points"]) if "banned_points" in raw else None,
            hints=raw.get("hints", {}),
            calls={k: list(v) for k, v in raw.get("calls", {}).items()},
            hidden=list(raw.get("hidden", [])),
            timeout=float(raw.get("timeout", 10.0)),
            import_timeout=float(raw.get("import_timeout", 20.0)),
            max_examples=int(raw.get("max_examples", 25)),
            budget=float(raw["budget"]) if "budget" in raw else None,
            bonus=bool(raw.get("bonus", False)),
            requires=[str(r) for r in raw.get("requires", [])],
            raw_keys=sorted(raw),
        )
        out.append(ex)
    out.sort(key=lambda e: e.order)
    return out


def validate(exercises: list[Exercise]) -> list[str]:
    """Problems in the metadata: check ids without points, totals that do not add up."""
    problems = []
    ids = {e.id for e in exercises}
    for ex in exercises:
        for dep in ex.after:
            if dep not in ids:
                problems.append(f"{ex.id}: after names unknown exercise {dep!r}")
        try:
            checks = ex.checks()
        except ModuleNotFoundError:
            problems.append(f"{ex.id}: no check module grader/course/{ex.id}.py")
            continue
        for c in checks:
            if c.points is None:
                problems.append(f"{ex.id}: check {c.id!r} has no points ("
                                + ("banned_points in course.toml" if c.kind == "banned" else "points= in its decorator")
                                + ")")
        if ex.banned_points is not None and not ex.banned:
            problems.append(f"{ex.id}: banned_points without banned APIs")
        if "checks" in ex.raw_keys:
            problems.append(f"{ex.id}: course.toml's `checks` table is gone: give each check points= in its "
                            "decorator (banned_apis: banned_points)")
        total = sum(c.points or 0 for c in checks)
        if total != ex.points:
            problems.append(f"{ex.id}: check points add up to {total}, points = {ex.points}")
    return problems


def find_course_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` that holds ``exercises/``."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "exercises").is_dir():
            return d
    return None


def mistake_info(path: Path) -> dict[str, Any]:
    """Parse a known-mistake file's docstring: name (en), zh, catches."""
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    lines = doc.splitlines()
    info: dict[str, Any] = {"en": lines[0].strip() if lines else path.stem, "zh": "", "catches": []}
    for line in lines[1:]:
        s = line.strip()
        if s.startswith("zh:"):
            info["zh"] = s[3:].strip()
        elif s.startswith("catches:"):
            info["catches"] = [c.strip() for c in s[8:].split(",") if c.strip()]
    return info
