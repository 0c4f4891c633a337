"""The two clocks: edition dates, nights, deadlines and the electoral silence.

The campaign lives in Paris, the data team in Montréal. Every instant here is an aware
datetime; wall-clock times are always paired with the zone they are read in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from matinale.settings import Clocks, Election, Settings

__all__ = [
    "Freeze",
    "Night",
    "edition_for",
    "freeze_for",
    "night_of",
    "run_slug",
]


def edition_for(instant: datetime, clocks: Clocks) -> date:
    """The edition an instant works for: the Paris date of the morning it serves.

    Before the publish deadline (campaign time) the next edition is today's; after it,
    tomorrow's.
    """
    if instant.tzinfo is None:
        raise ValueError("edition_for needs an aware datetime")
    local = instant.astimezone(clocks.campaign_tz)
    if local.time() < clocks.publish_deadline:
        return local.date()
    return local.date() + timedelta(days=1)


def run_slug(started: datetime, run_id: str) -> str:
    """A new, sortable, unique prefix per run, e.g. ``20261123T001502Z-3f9c``.

    Derived from the run's own identity so every task of the run (and every retry) agrees.
    """
    stamp = started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{hashlib.sha256(run_id.encode()).hexdigest()[:4]}"


@dataclass(frozen=True)
class Night:
    """One edition's night: its start, brief cut-off and publish deadline as instants."""

    edition: date
    start: datetime
    brief_cutoff: datetime
    deadline: datetime

    def in_zone(self, zone: object) -> dict[str, str]:
        return {
            name: getattr(self, name).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")  # type: ignore[arg-type]
            for name in ("start", "brief_cutoff", "deadline")
        }


def night_of(edition: date, clocks: Clocks) -> Night:
    """The night serving ``edition``: times fixed in campaign time, whatever the DST."""

    def at(moment: object) -> datetime:
        return datetime.combine(edition, moment, tzinfo=clocks.campaign_tz)  # type: ignore[arg-type]

    return Night(
        edition=edition,
        start=at(clocks.nightly_start),
        brief_cutoff=at(clocks.brief_cutoff),
        deadline=at(clocks.publish_deadline),
    )


@dataclass(frozen=True)
class Freeze:
    """A window where nothing may be published (Code électoral, art. L49)."""

    election: Election
    starts: datetime
    ends: datetime

    @property
    def reason(self) -> str:
        return (
            f"Silence électoral (Code électoral L49) : {self.election.name} du "
            f"{self.election.day.isoformat()}, aucune publication du "
            f"{self.starts:%d/%m %H:%M} au {self.ends:%d/%m %H:%M} (heure de Paris)"
        )


def freeze_for(instant: datetime, settings: Settings) -> Freeze | None:
    """The electoral silence covering ``instant``, if any: eve 00:00 until polls close."""
    zone = settings.clocks.campaign_tz
    for election in settings.elections:
        starts = datetime.combine(election.day - timedelta(days=1), datetime.min.time(), tzinfo=zone)
        ends = datetime.combine(election.day, election.polls_close, tzinfo=zone)
        if starts <= instant.astimezone(zone) < ends:
            return Freeze(election=election, starts=starts, ends=ends)
    return None
