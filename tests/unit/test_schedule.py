from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from matinale.schedule import edition_for, night_of, run_slug
from matinale.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    return load_settings().clocks


@pytest.mark.parametrize(
    ("paris", "edition"),
    [
        (datetime(2026, 11, 24, 1, 0, tzinfo=PARIS), date(2026, 11, 24)),  # the scheduled night
        (datetime(2026, 11, 24, 6, 29, tzinfo=PARIS), date(2026, 11, 24)),  # just before the deadline
        (datetime(2026, 11, 24, 6, 30, tzinfo=PARIS), date(2026, 11, 25)),  # deadline passed: tomorrow
        (datetime(2026, 11, 23, 23, 50, tzinfo=PARIS), date(2026, 11, 24)),
    ],
)
def test_edition_is_the_paris_morning_served(clocks, paris: datetime, edition: date) -> None:
    assert edition_for(paris, clocks) == edition
    assert edition_for(paris.astimezone(UTC), clocks) == edition


def test_montreal_evening_maps_to_next_paris_morning(clocks) -> None:
    montreal = datetime(2026, 11, 23, 19, 0, tzinfo=ZoneInfo("America/Montreal"))
    assert edition_for(montreal, clocks) == date(2026, 11, 24)


def test_naive_datetimes_are_refused(clocks) -> None:
    with pytest.raises(ValueError):
        edition_for(datetime(2026, 11, 24, 1, 0), clocks)


def test_night_times_stay_fixed_in_paris_across_dst(clocks) -> None:
    for day in (date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30), date(2026, 10, 25)):
        night = night_of(day, clocks)
        assert night.start.astimezone(PARIS).strftime("%H:%M") == "01:00"
        assert night.deadline.astimezone(PARIS).strftime("%H:%M") == "06:30"


def test_run_slug_is_sortable_and_stable() -> None:
    started = datetime(2026, 11, 23, 0, 15, 2, tzinfo=UTC)
    slug = run_slug(started, "scheduled__2026-11-23")
    assert slug.startswith("20261123T001502Z-") and len(slug) == 21
    assert slug == run_slug(started, "scheduled__2026-11-23")
    assert slug != run_slug(started, "manual__2026-11-23")
