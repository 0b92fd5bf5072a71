"""Messages with ids, rendered from one catalog per language (trusted side).

A check or the engine never writes a sentence into a report; it names one::

    fail("softmax_properties.rows_sum", got=...)          # grader/checks.py's fail()
    msg("engine.stage_fails", k=2, n=6, stage=..., inner=...)

and the sentence lives in ``grader/course/i18n/<lang>/<catalog>.toml``, one file per exercise
(its own messages) plus ``engine.toml`` (the engine's), one folder per language::

    [softmax_properties]
    rows_sum = "rows of softmax do not sum to 1"

Templates use ``str.format`` fields (``{name}``, ``{value:.3f}``); an argument may itself be a
:class:`Msg`, rendered in the same language. A :class:`Msg` *is* its English text (a ``str``), so
verdict fingerprints, logs and snapshots see plain English, while every renderer asks the view
for ``text(lang)``. Which exercise's catalog an id is looked up in is the scope the runner sets
while it runs that exercise's checks (:func:`scope`); the engine catalog is searched after it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CATALOG_DIR = Path(__file__).resolve().parent / "course" / "i18n"
LANGS = ("en", "zh")
ENGINE = "engine"

_SCOPE: contextvars.ContextVar[str] = contextvars.ContextVar("grader_message_scope", default="")


class UnknownMessage(KeyError):
    """An id with no English template: a bug in a check or the engine (a test finds every one)."""


@contextlib.contextmanager
def scope(exercise: str) -> Iterator[None]:
    """Messages created inside are looked up in ``exercise``'s catalog first."""
    token = _SCOPE.set(exercise)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_scope() -> str:
    return _SCOPE.get()


@functools.lru_cache(maxsize=128)
def catalog(lang: str, name: str) -> dict[str, str]:
    """The flat id -> template table of one catalog file (nested tables joined with dots)."""
    from grader.metadata import tomllib

    path = CATALOG_DIR / lang / f"{name}.toml"
    if not name or not path.is_file():
        return {}
    out: dict[str, str] = {}

    def walk(prefix: str, table: dict) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            else:
                out[f"{prefix}{key}"] = str(value)

    walk("", tomllib.loads(path.read_text(encoding="utf-8")))
    return out


def template(id: str, lang: str, where: str) -> str | None:
    """The template of ``id`` in ``lang``: the exercise's catalog, then the engine's."""
    for name in (where, ENGINE):
        found = catalog(lang, name).get(id) if name else None
        if found is not None:
            return found
    return None


def fields(text: str) -> set[str]:
    """The argument names a template uses."""
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}


class Msg(str):
    """A message: its English text, plus the id, arguments and scope to render it in any language."""

    id: str
    args: dict[str, Any]
    where: str

    def __new__(cls, id: str, args: dict[str, Any] | None = None, where: str | None = None) -> Msg:
        args = dict(args or {})
        where = current_scope() if where is None else where
        if template(id, "en", where) is None:
            raise UnknownMessage(f"no English template for message {id!r} "
                                 f"(grader/course/i18n/en/{where or ENGINE}.toml)")
        self = super().__new__(cls, _render(id, args, "en", where))
        self.id, self.args, self.where = id, args, where
        return self

    def text(self, lang: str = "en") -> str:
        return _render(self.id, self.args, lang, self.where) if lang != "en" else str.__str__(self)

    def map_args(self, fn: Any) -> Msg:
        """The same message with ``fn`` applied to every plain argument (nested messages too)."""
        return Msg(self.id, {k: v.map_args(fn) if isinstance(v, Msg) else fn(v) for k, v in self.args.items()},
                   self.where)

    def __reduce__(self) -> tuple:
        return (Msg, (self.id, self.args, self.where))

    def __deepcopy__(self, memo: dict) -> Msg:
        return self

    def __copy__(self) -> Msg:
        return self


def _render(id: str, args: dict[str, Any], lang: str, where: str) -> str:
    text = template(id, lang, where)
    if text is None:  # a language without this entry (a test fails on it): English, never a crash
        text = template(id, "en", where) or id
    values = {k: v.text(lang) if isinstance(v, Msg) else v for k, v in args.items()}
    try:
        return text.format_map(values)
    except (KeyError, IndexError, ValueError, TypeError) as err:
        raise UnknownMessage(f"message {id!r} ({lang}) does not render with {sorted(values)}: {err}") from None


def msg(id: str, /, **args: Any) -> Msg:
    """The message ``id`` with its arguments (see the module docstring)."""
    return Msg(id, args)


def gaps(text: Any, langs: tuple[str, ...] = LANGS) -> list[str]:
    """Why ``text`` is not complete in every language: it is not a message from a catalog at
    all (a sentence written into the code), or its id (or an argument's) has no template in a
    language, or one whose fields differ from the English. Empty when it is complete."""
    if not isinstance(text, Msg):
        return [f"not a catalog message: {str(text)[:80]!r}"] if text else []
    out = []
    en = template(text.id, "en", text.where) or ""
    for lang in langs:
        t = template(text.id, lang, text.where)
        if t is None:
            out.append(f"{text.id}: no {lang} entry (grader/course/i18n/{lang}/{text.where or ENGINE}.toml)")
        elif fields(t) != fields(en):
            out.append(f"{text.id}: the {lang} entry uses {sorted(fields(t))}, the English {sorted(fields(en))}")
    for value in text.args.values():
        if isinstance(value, Msg):
            out += gaps(value, langs)
    return out


def localise(text: Any, lang: str) -> str:
    """What a report shows for ``text`` in ``lang``: a message in that language; any other
    string (the student's own exception text, a value) as it is."""
    if isinstance(text, Msg):
        return text.text(lang)
    return "" if text is None else str(text)


__all__ = ["CATALOG_DIR", "ENGINE", "LANGS", "Msg", "UnknownMessage", "catalog", "current_scope", "fields",
           "gaps", "localise", "msg", "scope", "template"]
