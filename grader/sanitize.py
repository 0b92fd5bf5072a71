"""Untrusted text made harmless: the one sanitizer every report renderer uses.

Everything a submission can influence (exception messages, printed output, source lines in
frames, values it returned, a grader error that quotes them) may hold terminal escape
sequences that clear the screen and draw a fake score, bidi overrides that reorder what a
reader sees, control characters that XML refuses, or lone surrogates that UTF-8 cannot
encode. :func:`clean` removes or replaces all of them; :func:`scrub` applies it to every
string of a result tree before it is rendered (terminal, report.txt, JSON, Markdown, HTML,
JUnit, Gradescope), so no renderer can forget a field.

What :func:`clean` does, in order:

- escape sequences are removed whole: CSI (``ESC [`` … final byte, and the 8-bit ``\\x9b``),
  OSC (``ESC ]`` … BEL or ST), DCS / SOS / PM / APC strings (``ESC P``, ``ESC X``,
  ``ESC ^``, ``ESC _`` … ST, and their 8-bit forms), and every other ``ESC`` sequence;
  an unterminated string sequence is removed to the end of the text;
- ``\\r\\n`` and a lone ``\\r`` become ``\\n`` (so a carriage return cannot overwrite a line);
- every other C0 control (U+0000–U+001F except tab and newline), DEL and every C1 control
  (U+0080–U+009F) becomes U+FFFD, as do the bidi embeddings, overrides and isolates
  (U+202A–U+202E, U+2066–U+2069), lone surrogates (U+D800–U+DFFF) and the two
  non-characters XML forbids (U+FFFE, U+FFFF);
- the result is at most ``limit`` characters (an ellipsis marks a cut).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

# A string sequence (OSC, DCS, SOS, PM, APC): introducer, body, terminator (BEL or ST) or the end.
_STRING_SEQ = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|$)"
# CSI: ESC [ or 8-bit CSI, parameter bytes, intermediate bytes, one final byte (or the end).
_CSI = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*(?:[@-~]|$)"
# Any other escape: ESC, intermediates, a final byte.
_OTHER_ESC = r"\x1b[ -/]*[0-~]?"
_ESCAPES = re.compile(f"{_STRING_SEQ}|{_CSI}|{_OTHER_ESC}")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")

REPLACEMENT = "\ufffd"
LIMIT = 100_000  # characters of one string kept by scrub (formats cut fields shorter)


def clean(value: Any, limit: int = LIMIT) -> str:
    """``value`` as text that is safe to show in a terminal and to embed in any report."""
    s = value if isinstance(value, str) else str(value)
    if s.isascii() and s.isprintable():  # the common case: nothing to do
        return s if len(s) <= limit else s[: limit - 1] + "…"
    s = _ESCAPES.sub("", s)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    s = _CONTROLS.sub(REPLACEMENT, s)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def is_clean(s: str) -> bool:
    """True when ``s`` holds nothing :func:`clean` would change (tests use it)."""
    return not _CONTROLS.search(s) and "\r" not in s and "\x1b" not in s


def scrub(value: Any, limit: int = LIMIT) -> Any:
    """A copy of a result tree (dataclasses, dicts, lists, tuples) with every string cleaned,
    dict keys included; numbers, booleans and None are kept as they are."""
    if callable(getattr(value, "map_args", None)):  # a message (grader/messages.py): clean its arguments
        return value.map_args(lambda v: scrub(v, limit))
    if isinstance(value, str):
        return clean(value, limit)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: scrub(getattr(value, f.name), limit) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, dict):
        return {scrub(k, limit): scrub(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, limit) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub(v, limit) for v in value)
    return value


__all__ = ["clean", "is_clean", "scrub", "REPLACEMENT"]
