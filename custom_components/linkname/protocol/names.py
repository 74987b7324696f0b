"""Names and text of linkname/1 (docs/PROTOCOL.md, section 4.6, revision 2).

Which text is valid does not depend on the Python version or its Unicode
database: the characters a name or attribute may use are a fixed table
(:mod:`._repertoire`, frozen at Unicode 14.0.0, the database of Python 3.11,
the oldest Python the core supports).  For text made of those characters,
Unicode's stability policies keep NFC, NFKC and case folding the same in
every later version, so :func:`name_key` agrees across versions too.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right

from ._repertoire import RANGES, UNICODE_VERSION
from .const import MAX_NAME_BYTES

REPERTOIRE_UNICODE_VERSION = UNICODE_VERSION
_STARTS = tuple(first for first, _last in RANGES)
_LASTS = tuple(last for _first, last in RANGES)

# Full stops a name may not contain: "." and the characters that stand for a
# label separator elsewhere (IDNA: U+3002, U+FF0E, U+FF61) or fold to "."
# under NFKC (checked on the comparison key).
_DOTS = frozenset(".\u3002\uff0e\uff61")


def char_allowed(char: str) -> bool:
    """True if the one character ``char`` is in the text repertoire."""
    code = ord(char)
    index = bisect_right(_STARTS, code) - 1
    return index >= 0 and code <= _LASTS[index]


def text_problem(text: str) -> str | None:
    """Why ``text`` is not a valid name or attribute value, or None.

    Valid (section 4.6): every character in the repertoire (U+0020 and the
    letters, marks, numbers, punctuation and symbols of Unicode 14.0.0, less
    the default-ignorable and invisible ones); NFC; no leading or trailing
    space.  Length limits and the name-only rules are the callers'.
    """
    if text.isascii():
        # ASCII: the repertoire is U+0020..U+007E; NFC always holds.
        if not text.isprintable():
            return "control character"
    else:
        for char in text:
            if not char_allowed(char):
                return (
                    f"U+{ord(char):04X} is not allowed (control, format, bidi,"
                    " separator, invisible, private use or not in Unicode"
                    f" {UNICODE_VERSION})"
                )
        if not unicodedata.is_normalized("NFC", text):
            return "not in Unicode normalization form C"
    if text[:1] == " " or text[-1:] == " ":
        return "leading or trailing space"
    return None


def name_key(name: str) -> str:
    """The key under which names compare equal (section 4.6).

    NFKC, then full case folding, then NFKC again (case folding can undo
    normalization): "Kitchen", "KITCHEN" and fullwidth "kitchen" (U+FF4B ...)
    have one key, and so do U+0390 and U+03AA U+0301 (iota with dialytika and
    tonos).  Conflict detection, name queries and lookups compare keys.
    """
    if name.isascii():
        return name.lower()  # casefold of ASCII; NFKC leaves ASCII alone
    folded = unicodedata.normalize("NFKC", name).casefold()
    return unicodedata.normalize("NFKC", folded)


def has_dot(name: str) -> bool:
    """True if ``name`` has a full stop, or one under NFKC (U+FF0E, U+2024)."""
    return not _DOTS.isdisjoint(name) or "." in name_key(name)


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid NAME or QUERY_NAME, or None."""
    if not name:
        return "empty"
    problem = text_problem(name)
    if problem:
        return problem
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"{size} bytes, at most {MAX_NAME_BYTES} allowed"
    if has_dot(name):
        return "'.' is not allowed (a name is one label)"
    return None


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid linkname name, else raise ValueError."""
    problem = name_problem(name)
    if problem:
        raise ValueError(f"invalid name {name!r}: {problem}")
    return name
