"""A student's helper module for generation: where a UTF-8 byte string stops being whole
characters."""

from __future__ import annotations


def _sequence_length(lead: int) -> int:
    """How many bytes the UTF-8 sequence that starts with this byte has (1 for an invalid lead)."""
    if lead < 0x80:
        return 1
    if lead >> 5 == 0b110:
        return 2
    if lead >> 4 == 0b1110:
        return 3
    if lead >> 3 == 0b11110:
        return 4
    return 1


def complete_prefix_length(buf: bytes) -> int:
    """The length of the longest prefix of ``buf`` that does not end inside an unfinished
    multi-byte character (only the last character can be unfinished)."""
    n = len(buf)
    for i in range(n - 1, max(-1, n - 5), -1):
        b = buf[i]
        if b & 0xC0 == 0x80:          # a continuation byte: its lead byte is further left
            continue
        return i if n - i < _sequence_length(b) else n
    return n
