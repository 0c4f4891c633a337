"""The glue's own decisions: the run's deadline, the night's outcome, partial runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from matinale.airflow.deadline import publish_deadline_for
from matinale.airflow.glue import _decide, _outcome
from matinale.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    return load_settings().clocks


@pytest.mark.parametrize(
    ("run_after", "conf", "deadline"),
    [
        # Scheduled nights, the two Paris DST nights included: always 06:30 Paris.
        (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), None, datetime(2026, 3, 29, 6, 30, tzinfo=PARIS)),
        (datetime(2026, 10, 24, 23, 0, tzinfo=UTC), {}, datetime(2026, 10, 25, 6, 30, tzinfo=PARIS)),
        # A manual run at 03:30 Paris: this morning's deadline, not 5 h 30 later.
        (datetime(2026, 11, 24, 3, 30, tzinfo=PARIS), None, datetime(2026, 11, 24, 6, 30, tzinfo=PARIS)),
        # After the deadline: tomorrow's edition.
        (datetime(2026, 11, 24, 9, 0, tzinfo=PARIS), None, datetime(2026, 11, 25, 6, 30, tzinfo=PARIS)),
        # A rerun of a past edition is watched against the next deadline, not alerted at once.
        (datetime(2026, 11, 24, 9, 0, tzinfo=PARIS), {"edition_date": "2026-11-20"}, datetime(2026, 11, 25, 6, 30, tzinfo=PARIS)),
        # Building the day after tomorrow's edition early: its own deadline.
        (datetime(2026, 11, 24, 9, 0, tzinfo=PARIS), {"edition_date": "2026-11-26"}, datetime(2026, 11, 26, 6, 30, tzinfo=PARIS)),
    ],
)
def test_publish_deadline_of_a_run(clocks, run_after: datetime, conf: dict | None, deadline: datetime) -> None:
    assert publish_deadline_for(run_after, conf, clocks) == deadline


def test_outcome_of_the_night() -> None:
    ok = {"gate": "success", "approval": "success"}
    go = {"publish": True, "status": "publish", "reason": "ok"}
    assert _outcome({**ok, "publish": "success"}, go, None, None, {})[0] == "published"
    state, reason, _ = _outcome({"wait_for_brief": "failed", "prepare": "upstream_failed"}, None, None, None, {})
    assert state == "failed" and "wait_for_brief" in reason and "prepare" not in reason
    frozen = {"publish": False, "status": "frozen", "reason": "Silence électoral …"}
    assert _outcome({"gate": "success", "publish": "skipped"}, frozen, None, None, {}) == ("skipped", "Silence électoral …", "frozen")
    rejected = _outcome({**ok, "publish": "skipped"}, go, {"chosen": ["Reject"], "by": "Claire", "timed_out": False}, None, {})
    assert rejected == ("rejected", "Publication refusée par Claire ; rien n'est publié", "rejected")
    timeout = _outcome({**ok, "publish": "skipped"}, go, {"chosen": ["Reject"], "by": None, "timed_out": True}, None, {})
    assert timeout[0] == "rejected" and timeout[2] == "timeout" and "n'est pas publiée" in timeout[1]


def test_a_partial_run_is_never_published(monkeypatch: pytest.MonkeyPatch) -> None:
    from matinale.settings import cached_settings

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    cached_settings.cache_clear()
    ctx = {"edition": "2026-11-24", "run": "20261124T000000Z-abcd"}
    now = datetime(2026, 11, 24, 3, 0, tzinfo=PARIS)
    assert _decide(ctx, {"segments": []}, now).publish
    partial = _decide(ctx, {"segments": ["65plus-p03"]}, now)
    assert (partial.publish, partial.status) == (False, "partial") and "65plus-p03" in partial.reason
    assert _decide(ctx, {"segments": ["65plus-p03"], "dry_run": True}, now).status == "dry_run"
    cached_settings.cache_clear()
