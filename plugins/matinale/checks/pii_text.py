"""The text side of the PII scan: the patterns it runs and the helpers that run them fast.

Every pattern here is the one the scan documents; where the scan runs a faster form, the
form's equality with the documented one is a property test in
``tests/unit/checks/test_pii_scan.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__: list[str] = []

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# The characters of an address's local part: an address starts where they do.
_LOCAL_PART = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
# French numbers, national or international form, with or without separators. Bounded by
# non-alphanumerics so that hex signatures and long digit runs never look like phones.
# Written as (?<![0-9A-Za-z+])(?:\+33[\s.-]?|0033[\s.-]?|0)[1-9](?:[\s.-]?[0-9]{2}){4}…, the
# same matches in the same order, but starting on a character class ([+0]) so that the
# engine skips ahead to the next "+" or "0" instead of trying the lookbehind everywhere
# (4.6x faster over a night's texts; tests/unit/checks/test_pii_scan.py compares them).
_PHONE = re.compile(
    r"[+0](?<![0-9A-Za-z+][+0])(?:(?<=\+)33[\s.-]?|(?<=0)033[\s.-]?|(?<=0))"
    r"[1-9](?:[\s.-]?[0-9]{2}){4}(?![0-9A-Za-z])"
)
_ID_TOKENS = (re.compile(r"[0-9A-Za-z]+"), re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]*[0-9A-Za-z]"))
# The id candidates, found in one pass: the longest runs of letters, digits and "_.-" that
# start and end on a letter or digit, six characters or more. Each maximal run of letters
# and digits of six or more (the first token kind) lies whole inside one of these, so it is
# found afterwards in the (few, distinct) candidates instead of by a second pass over the
# text (see _id_candidates).
_ID_CANDIDATE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{4,}[0-9A-Za-z]")
_ID_RUN = re.compile(r"[0-9A-Za-z]{6,}")
# Joins the texts of a batch. No pattern here matches it or takes it for a space, and it is
# a starter for NFKD (no reordering across it), so each text is treated as if alone.
_SEP = "\x00"
# Stands for the end of a sentence or line between name words: a full name never spans one
# ("… à Paris.\nCamille Durand" names no "Paris Camille"). A comma does not break: lists
# write "Durand, Camille".
_BREAK = "\x02"
_BREAKS = re.compile(r"[.!?;:…](?=[\s\x00]|$)|[\n\r\v\f•«»()\[\]“”\"|]")
# _BREAKS as the scan runs it: the same one-character matches, found 1.8x faster because
# the pattern starts on one character class (the two alternatives' classes are disjoint:
# a sentence end still needs what follows it to be a space, a text's end or _SEP).
_BREAKS_SCAN = re.compile(
    r"[.!?;:…\n\r\v\f•«»()\[\]“”\"|](?:(?<=[.!?;:…])(?=[\s\x00]|$)|(?<![.!?;:…]))"
)
_WORD_BYTES = bytes(
    c if c in (0, 2) or chr(c) in "0123456789abcdefghijklmnopqrstuvwxyz" else 32 for c in range(256)
)
_DATA_URI = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=]+")


def _emails(text: str) -> Iterator[re.Match[str]]:
    """What ``_EMAIL.finditer(text)`` finds, looked for only around each "@".

    Every address holds one "@" and starts where the run of local-part characters before
    it starts (the lookbehind allows no other start). So for each "@" there is one place to
    try, skipped when a previous address already covers it, as ``finditer`` would.
    """
    end = position = 0
    while (at := text.find("@", position)) >= 0:
        position = at + 1
        start = at
        while start > 0 and text[start - 1] in _LOCAL_PART:
            start -= 1
        if start == at or start < end:
            continue
        match = _EMAIL.match(text, start)
        if match is not None:
            end = match.end()
            yield match


def _positions(words: list[str], word: str) -> list[int]:
    """Where ``word`` stands in ``words``, in order (``list.index`` scans in C)."""
    found: list[int] = []
    index = words.index
    try:
        while True:
            found.append(index(word, found[-1] + 1 if found else 0))
    except ValueError:
        return found


def _id_candidates(text: str) -> set[str]:
    """Every id-like token of ``text`` of _MIN_ID_LENGTH or more, both kinds of _ID_TOKENS.

    One pass of _ID_CANDIDATE over the text; the maximal runs of letters and digits (the
    first kind) are then taken from the distinct candidates, inside which each lies whole.
    """
    found = set(_ID_CANDIDATE.findall(text))
    for candidate in [c for c in found if not c.isalnum()]:
        found.update(_ID_RUN.findall(candidate))
    return found
