"""Clocks a live test can wait for: a copy of campaign.yaml whose deadline is minutes away.

The stack's alert test needs the publish deadline and the approval close a few minutes after
Airflow starts. Rather than a production knob, the stack writes a copy of campaign.yaml
(``MATINALE_CAMPAIGN_FILE``) whose clocks are set from the current instant and validated like
any campaign file. The copy's campaign zone is a fixed-offset zone (``Etc/GMT±N``) in which
it is about noon: no daylight-saving hour is ever refused, and the night never straddles
midnight, whatever the hour the test runs at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["SoonClocks", "noon_zone", "write_soon_campaign"]


@dataclass(frozen=True)
class SoonClocks:
    """How far ahead of the stack's start the deadline and the approval close are set."""

    deadline_in: timedelta
    approval_in: timedelta


def noon_zone(now: datetime) -> ZoneInfo:
    """A fixed-offset zone in which ``now`` is between 12:00 and 12:59."""
    hours = 12 - now.astimezone(UTC).hour  # -11 … +12
    # POSIX-style names: Etc/GMT-5 is five hours *ahead* of UTC.
    return ZoneInfo("Etc/GMT" if hours == 0 else f"Etc/GMT{-hours:+d}")


def _next_minute(moment: datetime) -> time:
    minutes = math.ceil((moment.hour * 60 + moment.minute + moment.second / 60) - 1e-9)
    return time(minutes // 60, minutes % 60)


def write_soon_campaign(
    source: Path, target: Path, now: datetime, soon: SoonClocks
) -> dict[str, str]:
    """Write ``source`` to ``target`` with the clocks of ``soon``; return the clocks written.

    The night's start and brief cut-off are hours in the past (no scheduled run starts, a
    brief already in the inbox is found at once); the deadline and the approval close fall on
    the next whole minute after ``now`` plus their delay.
    """
    import yaml

    from matinale.settings import load_settings

    zone = noon_zone(now)
    local = now.astimezone(zone)
    clocks = {
        "campaign_timezone": zone.key,
        "team_timezone": "America/Montreal",
        "nightly_start": "06:00",
        "brief_cutoff": "06:30",
        "publish_deadline": f"{_next_minute(local + soon.deadline_in):%H:%M}",
        "approval_closes": f"{_next_minute(local + soon.approval_in):%H:%M}",
    }
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["clocks"] = clocks
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_settings(target)  # validated like any campaign file: a refused copy fails here
    return clocks
