"""An unanswered approval becomes « Ne pas publier » at ``clocks.approval_closes``, not later."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from matinale.schedule import approval_wait
from matinale.settings import Clocks

PARIS = ZoneInfo("Europe/Paris")
CLOCKS = Clocks(
    PARIS,
    ZoneInfo("America/Montreal"),
    *(datetime.strptime(t, "%H:%M").time() for t in ("01:00", "01:30", "06:30", "12:00")),
)


def test_a_night_late_to_approval_waits_only_until_the_close() -> None:
    edition = date(2026, 11, 24)
    late = datetime(2026, 11, 24, 11, 50, tzinfo=PARIS)
    assert approval_wait(edition, late, CLOCKS) == timedelta(minutes=10)
    # After the close, a rerun chosen by staff still gets its hour.
    assert approval_wait(edition, late + timedelta(minutes=10), CLOCKS) == timedelta(hours=1)
