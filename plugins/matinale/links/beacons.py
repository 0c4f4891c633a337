"""The page's beacons (``POST /e``): which are counted, which are dropped.

A beacon names an edition, a segment, a theme, a channel, an angle and an event (``copy``,
``share``, ``variant_shown``). One naming a cell that no link table of that edition holds
is dropped. The others are bounded by what this process has seen: a cell's copies and
shares by its ``variant_shown``, a segment's ``variant_shown`` by its opens (times
``shown_per_open``, plus ``slack`` for pages opened through another replica or reloaded).
Beyond those bounds an event is counted as ``implausible`` instead of as itself.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

__all__ = ["BEACON_EVENTS", "Plausibility", "parse_beacon"]

BEACON_EVENTS = frozenset({"copy", "share", "variant_shown"})
_FIELDS = ("edition", "segment", "theme", "channel", "angle", "event")
MAX_BODY = 1024


def parse_beacon(body: bytes) -> dict[str, str] | None:
    """The six fields of a beacon body (JSON object), or None if it is not one."""
    if len(body) > MAX_BODY:
        return None
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    values = {name: data.get(name) for name in _FIELDS}
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in values.values()):
        return None
    if values["event"] not in BEACON_EVENTS:
        return None
    return values  # type: ignore[return-value]


class Plausibility:
    """In-memory tallies of one process, bounded by the cells the link tables hold."""

    def __init__(self, *, shown_per_open: int = 3, slack: int = 20) -> None:
        self.shown_per_open = shown_per_open
        self.slack = slack
        self.opens: Counter[tuple[str, str]] = Counter()
        self.shown: Counter[tuple[str, ...]] = Counter()
        self.shown_by_segment: Counter[tuple[str, str]] = Counter()
        self.acted: Counter[tuple[str, ...]] = Counter()

    def opened(self, edition: str, segment: str) -> None:
        self.opens[(edition, segment)] += 1

    def accept(self, edition: str, cell: tuple[str, str, str, str], event: str) -> bool:
        """Whether to count the event as itself (True) or as ``implausible`` (False)."""
        key = (edition, *cell)
        segment = (edition, cell[0])
        if event == "variant_shown":
            if (
                self.shown_by_segment[segment]
                >= self.opens[segment] * self.shown_per_open + self.slack
            ):
                return False
            self.shown[key] += 1
            self.shown_by_segment[segment] += 1
            return True
        if self.acted[key] >= self.shown[key]:
            return False
        self.acted[key] += 1
        return True
