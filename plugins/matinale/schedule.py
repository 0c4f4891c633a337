"""The two clocks: edition dates, nights, deadlines and the electoral silence.

The campaign lives in Paris, the data team in Montréal. Every instant here is an aware
datetime; wall-clock times are always paired with the zone they are read in. Nothing here
imports Airflow: the DAG, the CLI, the Matinale view and the tests all ask these functions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from matinale.settings import Clocks, Election, Settings

__all__ = [
    "Decision",
    "Freeze",
    "Night",
    "ScheduleRow",
    "approval_wait",
    "deadline_after",
    "edition_for",
    "format_schedule",
    "freeze_for",
    "freeze_windows",
    "next_nights",
    "night_of",
    "publication_decision",
    "run_slug",
    "schedule_rows",
    "two_clocks",
]


def _require_aware(instant: datetime, what: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} needs an aware datetime (with a time zone), got {instant!r}")


def edition_for(instant: datetime, clocks: Clocks) -> date:
    """The edition an instant works for: the Paris date of the morning it serves.

    Before the publish deadline (campaign time) the next edition is today's; after it,
    tomorrow's.
    """
    _require_aware(instant, "edition_for")
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
    """One edition's night: its start, brief cut-off, publish deadline and approval close."""

    edition: date
    start: datetime
    brief_cutoff: datetime
    deadline: datetime
    approval_closes: datetime

    def in_zone(self, zone: ZoneInfo) -> dict[str, str]:
        return {
            name: getattr(self, name).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
            for name in ("start", "brief_cutoff", "deadline")
        }


def _on_night(edition: date, moment: time, clocks: Clocks) -> datetime:
    """``moment`` (campaign wall time) on the night serving ``edition``.

    Times after the publish deadline belong to the evening before the edition's morning, so a
    23:30 start and a 06:30 deadline read as one night.
    """
    day = edition - timedelta(days=1) if moment > clocks.publish_deadline else edition
    return datetime.combine(day, moment, tzinfo=clocks.campaign_tz)


def night_of(edition: date, clocks: Clocks) -> Night:
    """The night serving ``edition``: times fixed in campaign time, whatever the DST."""
    return Night(
        edition=edition,
        start=_on_night(edition, clocks.nightly_start, clocks),
        brief_cutoff=_on_night(edition, clocks.brief_cutoff, clocks),
        deadline=_on_night(edition, clocks.publish_deadline, clocks),
        # approval_closes is on the edition's own day, after the deadline (checked by settings).
        approval_closes=datetime.combine(
            edition, clocks.approval_closes, tzinfo=clocks.campaign_tz
        ),
    )


def deadline_after(instant: datetime, clocks: Clocks) -> datetime:
    """The publish deadline of the edition ``instant`` works for: always later than ``instant``."""
    return night_of(edition_for(instant, clocks), clocks).deadline


def next_nights(after: datetime, count: int, clocks: Clocks) -> list[Night]:
    """The ``count`` nights whose start is at or after ``after``."""
    _require_aware(after, "next_nights")
    edition = edition_for(after, clocks)
    nights: list[Night] = []
    # The night of the current edition may already have started: step back one to be sure.
    candidate = edition - timedelta(days=1)
    while len(nights) < count:
        night = night_of(candidate, clocks)
        if night.start >= after:
            nights.append(night)
        candidate += timedelta(days=1)
    return nights


def approval_wait(
    edition: date, now: datetime, clocks: Clocks, *, minimum: timedelta = timedelta(hours=1)
) -> timedelta:
    """How long the approval may wait: until ``approval_closes`` of the edition's day.

    A rerun made after that hour still gets ``minimum`` so staff can answer it. Before it, the
    wait ends at the close however near, as staff are told: no answer by then, no publication.
    """
    _require_aware(now, "approval_wait")
    left = night_of(edition, clocks).approval_closes.astimezone(UTC) - now.astimezone(UTC)
    return left if left > timedelta(0) else minimum


# -- the electoral silence ------------------------------------------------------------------


@dataclass(frozen=True)
class Freeze:
    """A window where nothing may be published (Code électoral, art. L49)."""

    election: Election
    starts: datetime
    ends: datetime
    shown_in: ZoneInfo  # the campaign's zone: the reason reads in campaign time
    territory: str | None = None

    @property
    def reason(self) -> str:
        zone = self.shown_in
        where = f" ({self.territory})" if self.territory else ""
        return (
            f"Silence électoral (Code électoral L49) : {self.election.name} du "
            f"{self.election.day:%d/%m/%Y}{where}, aucune publication du "
            f"{self.starts.astimezone(zone):%d/%m %H:%M} au {self.ends.astimezone(zone):%d/%m %H:%M} "
            f"(heure de {_city(zone)})"
        )


def freeze_windows(settings: Settings) -> list[Freeze]:
    """Every silence window of the calendar, main votes and extra territories, by start."""
    windows: list[Freeze] = []
    zone = settings.clocks.campaign_tz
    for election in settings.elections:
        windows.append(
            Freeze(
                election=election,
                starts=datetime.combine(election.day - timedelta(days=1), time(0, 0), tzinfo=zone),
                ends=datetime.combine(election.day, election.polls_close, tzinfo=zone),
                shown_in=zone,
            )
        )
        for extra in election.extra_windows:
            windows.append(
                Freeze(
                    election=election,
                    starts=datetime.combine(
                        extra.day - timedelta(days=1), time(0, 0), tzinfo=extra.zone
                    ),
                    ends=datetime.combine(extra.day, extra.polls_close, tzinfo=extra.zone),
                    shown_in=zone,
                    territory=extra.name,
                )
            )
    return sorted(windows, key=lambda w: w.starts)


def freeze_for(instant: datetime, settings: Settings) -> Freeze | None:
    """The electoral silence covering ``instant``, if any: eve 00:00 until polls close."""
    _require_aware(instant, "freeze_for")
    for window in freeze_windows(settings):
        if window.starts <= instant < window.ends:
            return window
    return None


@dataclass(frozen=True)
class Decision:
    """Whether a run may publish now, and why not (French: shown in the log and the view)."""

    publish: bool
    status: str  # "publish", "frozen", "dry_run" or "stale"
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"publish": self.publish, "status": self.status, "reason": self.reason}


def publication_decision(
    edition: date, now: datetime, settings: Settings, *, explicit: bool, dry_run: bool
) -> Decision:
    """May ``edition`` be published at ``now``?

    - dry run: never (everything but publish);
    - electoral silence: never, whether ``now`` or the edition's morning falls in it (an
      edition built early still reaches people on its own morning);
    - a scheduled run whose edition day is over in Paris (the night was stuck past midnight):
      never, publishing yesterday's messages is worse than publishing none. An explicit
      ``edition_date`` (a rerun chosen by staff) is allowed.
    """
    _require_aware(now, "publication_decision")
    clocks = settings.clocks
    if dry_run:
        return Decision(
            False, "dry_run", "Essai à blanc (dry run) : tout est construit, rien n'est publié"
        )
    night = night_of(edition, clocks)
    for instant in (now, night.deadline):
        window = freeze_for(instant, settings)
        if window is not None:
            return Decision(
                False, "frozen", f"{window.reason} ; édition du {edition:%d/%m/%Y} non publiée"
            )
    today = now.astimezone(clocks.campaign_tz).date()
    if not explicit and edition < today:
        return Decision(
            False,
            "stale",
            f"L'édition du {edition:%d/%m/%Y} est passée (nous sommes le {today:%d/%m/%Y} à Paris) : "
            "elle n'est pas publiée. Relancez avec le paramètre edition_date pour la forcer.",
        )
    return Decision(True, "publish", f"Publication autorisée pour l'édition du {edition:%d/%m/%Y}")


# -- both clocks, side by side --------------------------------------------------------------


def two_clocks(instant: datetime, clocks: Clocks) -> str:
    """``01:00 Paris (19:00 Montréal, veille)``: how staff on both sides read one instant."""
    here = instant.astimezone(clocks.campaign_tz)
    there = instant.astimezone(clocks.team_tz)
    day = ""
    if there.date() < here.date():
        day = ", veille"
    elif there.date() > here.date():
        day = ", lendemain"
    return f"{here:%H:%M} {_city(clocks.campaign_tz)} ({there:%H:%M} {_city(clocks.team_tz)}{day})"


def _city(zone: ZoneInfo) -> str:
    city = zone.key.rsplit("/", 1)[-1].replace("_", " ")
    return {"Montreal": "Montréal"}.get(city, city)


@dataclass(frozen=True)
class ScheduleRow:
    """One night as the ``matinale schedule`` table shows it."""

    night: Night
    offset_hours: float  # campaign minus team, at the start (6 most of the year, 5 some weeks)
    offset_changed: bool  # the offset differs from the night before
    freeze: Freeze | None

    @property
    def edition(self) -> date:
        return self.night.edition


def _offset_hours(instant: datetime, clocks: Clocks) -> float:
    campaign = instant.astimezone(clocks.campaign_tz).utcoffset()
    team = instant.astimezone(clocks.team_tz).utcoffset()
    assert campaign is not None and team is not None  # ZoneInfo always answers
    return (campaign - team).total_seconds() / 3600


def schedule_rows(first: date, last: date, settings: Settings) -> list[ScheduleRow]:
    """Every night serving editions ``first``..``last`` (inclusive)."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    clocks = settings.clocks
    previous = _offset_hours(night_of(first - timedelta(days=1), clocks).start, clocks)
    rows = []
    day = first
    while day <= last:
        night = night_of(day, clocks)
        offset = _offset_hours(night.start, clocks)
        frozen = freeze_for(night.start, settings) or freeze_for(night.deadline, settings)
        rows.append(
            ScheduleRow(
                night=night, offset_hours=offset, offset_changed=offset != previous, freeze=frozen
            )
        )
        previous = offset
        day += timedelta(days=1)
    return rows


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}"


def _hours(value: float) -> str:
    return f"{value:+g} h"


def format_schedule(rows: list[ScheduleRow], settings: Settings, *, markdown: bool = False) -> str:
    """The nights as a table: start and deadline in the campaign zone, the team zone and UTC."""
    clocks = settings.clocks
    camp, team = _city(clocks.campaign_tz), _city(clocks.team_tz)
    header = [
        "edition",
        f"start {camp}",
        f"start {team}",
        "start UTC",
        f"deadline {camp}",
        f"deadline {team}",
        "deadline UTC",
        "offset",
        "notes",
    ]
    lines: list[list[str]] = []
    for row in rows:
        night = row.night
        notes = []
        if row.offset_changed:
            notes.append(f"OFFSET CHANGE ({_hours(row.offset_hours)})")
        elif row.offset_hours != 6:
            notes.append("short offset")
        # Aware datetimes sharing one tzinfo subtract as wall clocks: go through UTC for real time.
        length = night.deadline.astimezone(UTC) - night.start.astimezone(UTC)
        wall = datetime.combine(night.edition, clocks.publish_deadline) - datetime.combine(
            night.start.astimezone(clocks.campaign_tz).date(), clocks.nightly_start
        )
        if length != wall:
            notes.append(
                f"{camp} changes clocks tonight: the night lasts {_duration(length)}, not {_duration(wall)}"
            )
        if row.freeze is not None:
            notes.append(
                f"FREEZE: {row.freeze.election.name}"
                + (f" / {row.freeze.territory}" if row.freeze.territory else "")
            )
        lines.append(
            [
                f"{night.edition:%a %Y-%m-%d}",
                f"{night.start.astimezone(clocks.campaign_tz):%m-%d %H:%M}",
                f"{night.start.astimezone(clocks.team_tz):%m-%d %H:%M}",
                f"{night.start.astimezone(UTC):%m-%d %H:%M}",
                f"{night.deadline.astimezone(clocks.campaign_tz):%m-%d %H:%M}",
                f"{night.deadline.astimezone(clocks.team_tz):%m-%d %H:%M}",
                f"{night.deadline.astimezone(UTC):%m-%d %H:%M}",
                _hours(row.offset_hours),
                "; ".join(notes),
            ]
        )
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out.extend("| " + " | ".join(cells) + " |" for cells in lines)
        return "\n".join(out)
    widths = [
        max(len(h), *(len(cells[i]) for cells in lines)) if lines else len(h)
        for i, h in enumerate(header)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out.extend(
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for cells in lines
    )
    return "\n".join(out)
