"""``learn``: from the link counts of recent editions to ``learned.json`` (no Airflow, no I/O).

The document (``version`` 1)::

    {"version": 1, "edition": "YYYY-MM-DD", "editions_read": ["YYYY-MM-DD", …], "seed": 42,
     "floor": 0.05, "k_min": 50, "pooling": 100.0,
     "segments": {"<segment>": {
         "themes": {"<theme>": {
             "weights": {"<angle>": w, …},          # sum 1; each ≥ floor / number of angles
             "leading": "<angle>",                  # the heaviest (ties: the rule's angle first)
             "posterior": {"<angle>": {"shares": s, "exposures": e, "previews": p,
                                       "mean": m, "low": l, "high": h,
                                       "source": "segment" | "band" | "prior"}}}},
         "channels": ["<channel>", …],              # by share rate, most shared first
         "send_hour": "HH:MM", "send_hour_source": "band" | "default"}},
     "bands": {"<band>": {"hours": [24 opens + clicks, Paris hours 0–23]}},
     "skipped": {"under_floor": n, "silence_days": n}}

Rules (see :mod:`matinale.learn.model` for the posterior and the pooling):

* only rows of the editions read (all before tonight's edition when none are named);
* rows whose Paris day (the date of their ``hour``) is inside the electoral silence are
  dropped and their days counted in ``skipped.silence_days``: nothing is learnt from them;
* ``shares``/``exposures`` are the segment's own counts that were used: 0 for a cell under
  the floor (counted in ``skipped.under_floor``), whose counts are never shown;
* ``preview`` (a link preview fetched by a messaging app) is reported per cell but never
  enters the posterior;
* ``channels``: the segment's channels with a share rate (its own cells over the editions,
  pooled with its band like the angles), highest posterior mean first;
* ``send_hour``: the busiest Paris hour of its band's opens and clicks (``"HH:00"``), or
  ``default_send_hour`` while the band has fewer than ``k_min`` of them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import numpy as np

from matinale.learn.model import POOLING, Posterior, Tally, pooled, theme_prior, thompson_weights
from matinale.segment.types import band_of

__all__ = ["CountRow", "band_of", "learn"]

SHARE_EVENTS = frozenset({"copy", "share"})
EXPOSURE_EVENT = "variant_shown"
PREVIEW_EVENT = "preview"
ATTENTION_EVENTS = frozenset({"open", "click"})
DEFAULT_SEND_HOUR = "07:30"


class CountRow(NamedTuple):
    """One row of the ``link_counts`` table."""

    hour: str
    edition: str
    segment: str
    theme: str
    channel: str
    angle: str
    event: str
    n: int


@dataclass
class _Tallies:
    """The counts kept, summed over the editions read."""

    shown: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    shared: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    previews: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    channel_shown: Counter[tuple[str, str]] = field(default_factory=Counter)
    channel_shared: Counter[tuple[str, str]] = field(default_factory=Counter)
    hours: defaultdict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * 24)
    )
    silent_days: set[str] = field(default_factory=set)
    editions: set[str] = field(default_factory=set)


def _tally(
    rows: Iterable[CountRow | Sequence[Any]],
    editions: frozenset[str] | None,
    edition: str,
    silent: Callable[[date], bool] | None,
    band_for: Callable[[str], str],
) -> _Tallies:
    tallies = _Tallies()
    day_silent: dict[str, bool] = {}
    for row in rows:
        hour, row_edition, segment, theme, channel, angle, event, n = row
        if (editions is not None and row_edition not in editions) or row_edition >= edition:
            continue
        day = hour[:10]
        if silent is not None:
            if day not in day_silent:
                day_silent[day] = silent(date.fromisoformat(day))
            if day_silent[day]:
                tallies.silent_days.add(day)
                continue
        n = int(n)
        tallies.editions.add(row_edition)
        if event in ATTENTION_EVENTS:
            tallies.hours[band_for(segment)][int(hour[11:13])] += n
            continue
        cell = (segment, theme, angle)
        if event == EXPOSURE_EVENT:
            tallies.shown[cell] += n
            tallies.channel_shown[(segment, channel)] += n
        elif event in SHARE_EVENTS:
            tallies.shared[cell] += n
            tallies.channel_shared[(segment, channel)] += n
        elif event == PREVIEW_EVENT:
            tallies.previews[cell] += n
    return tallies


def _cells(
    shown: Mapping[Any, int], shared: Mapping[Any, int], band_for: Callable[[str], str]
) -> tuple[dict[Any, Tally], dict[Any, Tally]]:
    """Capped segment cells, and band cells (segment cells summed per band, capped first)."""
    own: dict[Any, Tally] = {}
    band: dict[Any, Tally] = defaultdict(Tally)
    for key in set(shown) | set(shared):
        cell = Tally.capped(shared.get(key, 0), shown.get(key, 0))
        own[key] = cell
        band_key = (band_for(key[0]), *key[1:])
        band[band_key] = band[band_key] + cell
    return own, dict(band)


def _send_hour(hours: Sequence[int] | None, k_min: int, default: str) -> tuple[str, str]:
    if not hours or sum(hours) < max(k_min, 1):
        return default, "default"
    return f"{int(np.argmax(hours)):02d}:00", "band"


def learn(
    rows: Iterable[CountRow | Sequence[Any]],
    *,
    segments: Mapping[str, str],
    themes: Sequence[str],
    eligible: Callable[[str, str], Sequence[str]],
    edition: str,
    editions: Sequence[str] | None = None,
    floor: float = 0.05,
    k_min: int = 50,
    silent: Callable[[date], bool] | None = None,
    seed: int = 0,
    pooling: float = POOLING,
    default_send_hour: str = DEFAULT_SEND_HOUR,
) -> dict[str, Any]:
    """The ``learned.json`` document of ``edition`` (module docstring) from count rows.

    ``segments`` maps tonight's segment ids to their band; ``eligible(segment, theme)`` lists
    the angles a segment's variants may take for a theme, the rule's angle first. Rows of
    segments not listed still feed their band. Same rows and ``seed``: same weights."""
    read = frozenset(editions) if editions is not None else None

    def band_for(segment: str) -> str:
        return segments.get(segment) or band_of(segment)

    tallies = _tally(rows, read, edition, silent, band_for)
    own, band = _cells(tallies.shown, tallies.shared, band_for)
    channel_own, channel_band = _cells(tallies.channel_shown, tallies.channel_shared, band_for)
    by_segment: defaultdict[str, list[tuple[str, Tally]]] = defaultdict(list)
    for (who, channel), cell in channel_own.items():
        by_segment[who].append((channel, cell))
    priors = {
        theme: theme_prior([c for k, c in band.items() if k[1] == theme], k_min) for theme in themes
    }
    channel_prior = theme_prior(list(channel_band.values()), k_min)
    under_floor = sum(1 for cell in own.values() if 0 < cell.exposures < k_min)

    keys: list[tuple[str, str, list[str]]] = []
    groups: list[list[Posterior]] = []
    for segment in sorted(segments):
        for theme in themes:
            angles = list(dict.fromkeys(eligible(segment, theme)))
            if not angles:
                continue
            keys.append((segment, theme, angles))
            groups.append(
                [
                    pooled(
                        priors[theme],
                        band.get((segments[segment], theme, angle), Tally()),
                        own.get((segment, theme, angle), Tally()),
                        k_min=k_min,
                        pooling=pooling,
                    )
                    for angle in angles
                ]
            )
    weights = thompson_weights(groups, floor=floor, rng=np.random.default_rng(seed))

    out: dict[str, dict[str, Any]] = {}
    for (segment, theme, angles), posts, ws in zip(keys, groups, weights, strict=True):
        entry = out.setdefault(segment, {"themes": {}})
        posterior = {}
        for angle, post in zip(angles, posts, strict=True):
            cell = own.get((segment, theme, angle), Tally())
            used = cell if cell.passes(k_min) else Tally()
            low, high = post.interval()
            posterior[angle] = {
                "shares": used.shares,
                "exposures": used.exposures,
                "previews": tallies.previews[(segment, theme, angle)] if used.exposures else 0,
                "mean": round(post.mean, 6),
                "low": round(low, 6),
                "high": round(high, 6),
                "source": post.source,
            }
        leading = max(range(len(angles)), key=lambda i: (ws[i], -i))
        entry["themes"][theme] = {
            "weights": dict(zip(angles, ws, strict=True)),
            "leading": angles[leading],
            "posterior": posterior,
        }
    bands_seen = set(segments.values()) | set(tallies.hours)
    for segment in sorted(segments):
        entry = out.setdefault(segment, {"themes": {}})
        seg_band = segments[segment]
        rated = []
        for channel, cell in by_segment.get(segment, []):
            post = pooled(
                channel_prior,
                channel_band.get((seg_band, channel), Tally()),
                cell,
                k_min=k_min,
                pooling=pooling,
            )
            if post.source != "prior":
                rated.append((-post.mean, channel))
        entry["channels"] = [channel for _, channel in sorted(rated)]
        hour, source = _send_hour(tallies.hours.get(seg_band), k_min, default_send_hour)
        entry["send_hour"], entry["send_hour_source"] = hour, source
    return {
        "version": 1,
        "edition": edition,
        "editions_read": sorted(read if read is not None else tallies.editions),
        "seed": seed,
        "floor": floor,
        "k_min": k_min,
        "pooling": pooling,
        "segments": out,
        "bands": {b: {"hours": list(tallies.hours.get(b, [0] * 24))} for b in sorted(bands_seen)},
        "skipped": {"under_floor": under_floor, "silence_days": len(tallies.silent_days)},
    }
