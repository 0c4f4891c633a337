"""The short codes of one run, made where they are printed (posts, card QR codes) without
any task asking another.

A code is 8 characters of :data:`~matinale.links.codes.CODE_ALPHABET`: the run's **stem**
(3 characters, reserved in the link state by ``prepare``: no other run ever has it, so a
code printed last week never collides with tonight's, and no history is read to know it),
then 5 characters that number one link of the run. That number is ``segment × 29,791 +
slot`` (a segment's place in the run's ``segments.json``; a slot per theme for its cards,
then one per theme × channel × angle for its posts), passed through a keyed affine
bijection of the 31⁵ numbers (``a·n + b``, ``a`` prime to 31, both random per run): codes
look random, two links of a run never share one, and the content and visuals tasks, which
run in parallel over batches of segments, compute the same code for the same link.

``links.json`` in the run's work prefix holds the run's ``base`` (``links.public_base_url``),
``stem``, ``a`` and ``b``; without it (no link service configured) links stay long.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matinale.links.codes import CODE_ALPHABET, CODE_LENGTH, LinkStateError

__all__ = ["CARD_ANGLE", "CARD_CHANNEL", "MAX_SEGMENTS", "STEM_LENGTH", "RunLinks", "ShortLinks"]

STEM_LENGTH = 3
_BASE = len(CODE_ALPHABET)
_REST = CODE_LENGTH - STEM_LENGTH
_SPACE = _BASE**_REST
SLOTS = _BASE**3
"""Links per segment and run (29,791)."""
MAX_SEGMENTS = _SPACE // SLOTS
"""Segments per run that get short links (961)."""
CARD_CHANNEL = "card"
CARD_ANGLE = "none"
"""A card's QR code counts under (segment, theme, ``card``, ``none``): a card makes no angle."""


def _digits(number: int, length: int) -> str:
    out = []
    for _ in range(length):
        number, digit = divmod(number, _BASE)
        out.append(CODE_ALPHABET[digit])
    return "".join(reversed(out))


def _number(text: str) -> int:
    value = 0
    for char in text:
        value = value * _BASE + CODE_ALPHABET.index(char)
    return value


@dataclass(frozen=True)
class RunLinks:
    """What ``links.json`` of a run holds: its public base, stem and code key."""

    base: str
    stem: str
    a: int
    b: int

    def __post_init__(self) -> None:
        if len(self.stem) != STEM_LENGTH or any(c not in CODE_ALPHABET for c in self.stem):
            raise LinkStateError(f"stem {self.stem!r}: {STEM_LENGTH} characters of {CODE_ALPHABET}")
        if not (0 < self.a < _SPACE and self.a % _BASE and 0 <= self.b < _SPACE):
            raise LinkStateError("links.json of this run has a broken code key; rerun prepare")
        if not self.base.startswith(("https://", "http://")) or self.base.endswith("/"):
            raise LinkStateError(f"link service base {self.base!r}: an origin without final /")

    @classmethod
    def new(cls, base: str, stem: str) -> RunLinks:
        a = 0
        while a % _BASE == 0:
            a = secrets.randbelow(_SPACE)
        return cls(base=base, stem=stem, a=a, b=secrets.randbelow(_SPACE))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunLinks:
        try:
            return cls(str(data["base"]), str(data["stem"]), int(data["a"]), int(data["b"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise LinkStateError(
                f"links.json of this run is unreadable ({exc}); rerun prepare"
            ) from exc

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "base": self.base, "stem": self.stem, "a": self.a, "b": self.b}

    def code(self, number: int) -> str:
        if not 0 <= number < _SPACE:
            raise LinkStateError(f"link number {number} is outside a run's {_SPACE} codes")
        return self.stem + _digits((self.a * number + self.b) % _SPACE, _REST)

    def number(self, code: str) -> int:
        """The inverse of :meth:`code` (for tests and for reading a table back)."""
        if not code.startswith(self.stem):
            raise LinkStateError(f"code {code} is not of this run (stem {self.stem})")
        inverse = pow(self.a, -1, _SPACE)
        return ((_number(code[STEM_LENGTH:]) - self.b) * inverse) % _SPACE

    def url(self, code: str) -> str:
        return f"{self.base}/s/{code}"

    def owns(self, url: str) -> bool:
        """Whether ``url`` is a short link of this run's service (any run's code)."""
        return url.startswith(f"{self.base}/s/")


class ShortLinks:
    """The codes of one run's links, numbered by the run's segments, themes, channels, angles.

    ``segments`` in ``segments.json`` order and ``themes`` in the brief's order fix the
    numbering for everyone; ``channels`` and ``angles`` (sorted ids) are needed for posts
    only, so the visuals task passes none.
    """

    def __init__(
        self,
        run: RunLinks,
        segments: Sequence[str],
        themes: Sequence[str],
        channels: Sequence[str] = (),
        angles: Sequence[str] = (),
    ) -> None:
        if len(segments) > MAX_SEGMENTS:
            raise LinkStateError(
                f"{len(segments)} segments: short links number at most {MAX_SEGMENTS} a run; "
                "merge segments or turn the link service off (links.public_base_url)"
            )
        self.run = run
        self._segments = {s: i for i, s in enumerate(segments)}
        self._themes = {t: i for i, t in enumerate(themes)}
        self._channels = {c: i for i, c in enumerate(channels)}
        self._angles = {a: i for i, a in enumerate(angles)}
        if len(themes) * (1 + len(channels) * max(1, len(angles))) > SLOTS:
            raise LinkStateError(
                f"{len(themes)} themes × {len(channels)} channels × {len(angles)} angles: "
                f"more than the {SLOTS} short links a segment may have"
            )

    def _index(self, kind: str, table: Mapping[str, int], value: str) -> int:
        try:
            return table[value]
        except KeyError:
            raise LinkStateError(
                f"{kind} {value!r} is not numbered in this run's short links"
            ) from None

    def _code(self, segment: str, slot: int) -> str:
        return self.run.code(self._index("segment", self._segments, segment) * SLOTS + slot)

    def card(self, segment: str, theme: str) -> str:
        """The code of the QR code on ``segment``'s cards of ``theme``."""
        return self._code(segment, self._index("theme", self._themes, theme))

    def post(self, segment: str, theme: str, channel: str, angle: str) -> str:
        """The code of the campaign link in ``segment``'s posts of ``theme`` on ``channel``
        that make ``angle``."""
        t = self._index("theme", self._themes, theme)
        c = self._index("channel", self._channels, channel)
        a = self._index("angle", self._angles, angle)
        slot = len(self._themes) + (t * len(self._channels) + c) * len(self._angles) + a
        return self._code(segment, slot)

    def url(self, code: str) -> str:
        return self.run.url(code)
