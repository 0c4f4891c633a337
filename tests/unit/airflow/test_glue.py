"""The glue's own work: the run's deadline, and ``run_stage`` running the night's stages as
tasks (their inputs from the Airflow context, a broken file failing at once, publish checking
the law again). The night's outcome itself is tested without Airflow in test_outcome.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from matinale import night
from matinale.airflow.deadline import publish_deadline_for
from matinale.airflow.glue import NoRunContext, run_stage
from matinale.settings import cached_settings, load_settings
from matinale.store import LocalStore

ROOT = Path(__file__).resolve().parents[3]
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
        (
            datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
            {},
            datetime(2026, 10, 25, 6, 30, tzinfo=PARIS),
        ),
        # A manual run at 03:30 Paris: this morning's deadline, not 5 h 30 later.
        (
            datetime(2026, 11, 24, 3, 30, tzinfo=PARIS),
            None,
            datetime(2026, 11, 24, 6, 30, tzinfo=PARIS),
        ),
        # After the deadline: tomorrow's edition.
        (
            datetime(2026, 11, 24, 9, 0, tzinfo=PARIS),
            None,
            datetime(2026, 11, 25, 6, 30, tzinfo=PARIS),
        ),
        # A rerun of a past edition is watched against the next deadline, not alerted at once.
        (
            datetime(2026, 11, 24, 9, 0, tzinfo=PARIS),
            {"edition_date": "2026-11-20"},
            datetime(2026, 11, 25, 6, 30, tzinfo=PARIS),
        ),
        # Building the day after tomorrow's edition early: its own deadline.
        (
            datetime(2026, 11, 24, 9, 0, tzinfo=PARIS),
            {"edition_date": "2026-11-26"},
            datetime(2026, 11, 26, 6, 30, tzinfo=PARIS),
        ),
    ],
)
def test_publish_deadline_of_a_run(
    clocks, run_after: datetime, conf: dict | None, deadline: datetime
) -> None:
    assert publish_deadline_for(run_after, conf, clocks) == deadline


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local work store and an inbox with tonight's brief and a supporter file ingest refuses."""
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_WORK_STORE", "local")
    monkeypatch.delenv("MATINALE_INBOX", raising=False)
    # No S3 here: prepare reserves no short-code stem (the e2e and stack tests do).
    monkeypatch.setenv("MATINALE_LINKS_PUBLIC_URL", "off")
    inbox = tmp_path / "var" / "inbox"
    (inbox / "supporters").mkdir(parents=True)
    (inbox / "briefs").mkdir()
    (inbox / "supporters" / "supporters.csv").write_text(
        "supporter_id;prenom\nA-0001;Hélène\n", encoding="utf-8"
    )
    shutil.copy(
        ROOT / "content_templates" / "sample_brief.yaml", inbox / "briefs" / "2026-11-24.yaml"
    )
    cached_settings.cache_clear()
    yield tmp_path / "var"
    cached_settings.cache_clear()


def _context(**params: Any) -> Any:
    run_after = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    return {
        "params": params,
        "dag_run": SimpleNamespace(
            run_after=run_after, run_id="scheduled__2026-11-24T00:00:00+00:00"
        ),
    }


def test_run_stage_prepares_then_a_broken_file_fails_at_once(var: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    ctx = run_stage(night.PREPARE, _context())
    assert ctx["edition"] == "2026-11-24" and ctx["run"].startswith("20261124T000000Z-")
    store = LocalStore(load_settings().work_dir)
    assert store.exists(f"{night.RunContext.from_xcom(ctx).prefix}/inputs.json")
    # A broken export stays broken on retry: ingest (retry=False) fails the task for good.
    assert night.stage(night.INGEST).retry is False
    with pytest.raises(AirflowFailException) as failed:
        run_stage(night.INGEST, _context(), ctx)
    assert isinstance(failed.value.__cause__, night.NightError) and str(failed.value) == str(
        failed.value.__cause__
    )


def test_run_stage_skips_visuals_on_the_param(var: Path) -> None:
    ctx = run_stage(night.PREPARE, _context(skip_visuals=True))
    summary = run_stage(night.VISUALS, _context(skip_visuals=True), ctx, ["18-24-p01"])
    assert summary == {"segments": 1, "cards": 0, "skipped": True}
    store = LocalStore(load_settings().work_dir)
    cards = store.get_json(f"{night.RunContext.from_xcom(ctx).bundle}/18-24-p01/cards.json")
    assert cards == {"segment": "18-24-p01", "cards": []}


def test_publish_checks_the_law_again_before_any_upload(var: Path) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    ctx = {
        "edition": "2026-11-24",
        "run": "20261124T000000Z-abcd",
        "supporters_file": "x",
        "brief_file": "y",
    }
    # A partial run is a preview: publish skips before building an S3 client.
    with pytest.raises(AirflowSkipException, match="Run partiel"):
        run_stage(night.PUBLISH, _context(segments=["65plus-p03"]), ctx)


class _Ti:
    """A task instance whose XComs are a dict: task id → return value."""

    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str, **kwargs: Any) -> Any:
        return self.xcoms.get(task_ids)


def test_a_stage_reads_the_run_context_from_prepare(var: Path) -> None:
    """No edge from prepare to every task: a stage (a rerun of one stage too, or one instance
    of a mapped stage) reads the context prepare left in XCom."""
    ctx = run_stage(night.PREPARE, _context(skip_visuals=True))
    context = {**_context(skip_visuals=True), "ti": _Ti({night.PREPARE: ctx})}
    for batch in (["18-24-p01"], ["65plus-p03"]):
        assert run_stage(night.VISUALS, context, batch=batch)["skipped"] is True
    store = LocalStore(load_settings().work_dir)
    assert store.exists(f"{night.RunContext.from_xcom(ctx).bundle}/65plus-p03/cards.json")


def test_no_run_context_fails_at_once_with_what_to_do() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from matinale.airflow.glue import run_context

    with pytest.raises(NoRunContext, match="clear prepare"):
        run_context({**_context(), "ti": _Ti({})})
    with pytest.raises(AirflowFailException, match="clear prepare"):
        run_stage(night.CHECKS, {**_context(), "ti": _Ti({})})


def test_publish_says_which_edition_its_asset_event_is_for(
    var: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matinale.airflow import glue

    ctx = {
        "edition": "2026-11-24",
        "run": "20261124T000000Z-abcd",
        "supporters_file": "x",
        "brief_file": "y",
    }
    published = {"bucket": "b", "prefix": "editions/2026-11-24/r/", "latest_moved": True}
    monkeypatch.setattr(glue, "_may_still_publish", lambda *args: None)
    monkeypatch.setattr(glue, "s3_client", lambda settings=None: object())
    monkeypatch.setattr(night, "call_stage", lambda *args, **kwargs: published)
    events: dict[Any, SimpleNamespace] = {glue.edition_asset(): SimpleNamespace(extra={})}
    context = {**_context(), "ti": _Ti({night.PREPARE: ctx}), "outlet_events": events}
    assert run_stage(night.PUBLISH, context) == published
    assert events[glue.edition_asset()].extra == {
        "edition": "2026-11-24",
        "run": "20261124T000000Z-abcd",
        "bucket": load_settings().bundle_bucket,
        "prefix": "editions/2026-11-24/r/",
        "latest_moved": True,
    }


def test_run_stage_knows_only_the_nights_stages() -> None:
    with pytest.raises(KeyError, match="gate"):
        run_stage(night.GATE, _context())


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 7, 0, 50, tzinfo=UTC),  # 01:50 Paris: the start was 50 minutes ago
        datetime(2027, 3, 28, 0, 30, tzinfo=UTC),  # 02:30 Paris (CEST), the spring-forward night
        datetime(2026, 12, 6, 23, 59, tzinfo=UTC),  # 00:59 Paris: a minute before the start
    ],
)
def test_unpausing_never_starts_a_past_night(
    monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    """The scheduler's first run is the next 01:00 Paris, whatever the hour the DAG is
    unpaused at (Airflow's default would run a start up to 2 h 24 min old at once)."""
    import airflow.timetables.trigger as core_trigger
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables.base import TimeRestriction

    from matinale.airflow.glue import nightly_timetable

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    cached_settings.cache_clear()
    try:
        timetable = decode_timetable(
            encode_timetable(nightly_timetable())
        )  # as the scheduler has it
    finally:
        cached_settings.cache_clear()
    monkeypatch.setattr(core_trigger, "utcnow", lambda: now)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
    )
    assert info is not None
    first = info.run_after.astimezone(PARIS)
    assert first > now and (first.hour, first.minute) == (1, 0), first


def test_plan_fails_at_once_on_a_night_without_segments(var: Path) -> None:
    """An empty segments.json would map content and visuals over nothing and end the run
    green with nothing published: plan fails the task at once instead, saying why."""
    from airflow.sdk.exceptions import AirflowFailException

    from matinale.airflow.glue import plan

    settings = load_settings()
    ctx = night.RunContext.from_xcom(
        {
            "edition": "2026-11-24",
            "run": "20261124T000000Z-test",
            "supporters_file": "",
            "brief_file": "",
        }
    )
    LocalStore(settings.work_dir).put_json(f"{ctx.prefix}/segments.json", {"segments": []})
    with pytest.raises(AirflowFailException, match="lists no segment"):
        plan(ctx.to_xcom(), {})
