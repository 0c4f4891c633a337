"""The nightly DAG's alerts through Airflow itself: a missing brief, and the publish deadline.

dag.test() runs the real DAG with no brief in the inbox on the two nights Paris changes
clocks. The brief sensor fails at once (the cut-off is long past), the failure alert reaches
a local webhook, the status record says why, and the deadline Airflow created for the run
is 06:30 Paris of that morning, although the night lasts 4 h 30 or 6 h 30. The missed
deadline is then handled the way the scheduler does it and its callback runs the way the
triggerer does: the webhook receives the deadline alert with both clocks.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_night(
    s3_server, s3_buckets, airflow_db, webhook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from matinale.settings import cached_settings

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_BUNDLE_BUCKET", s3_buckets["bundle"])
    monkeypatch.setenv("MATINALE_PRIVATE_BUCKET", s3_buckets["private"])
    monkeypatch.delenv("MATINALE_DEADLINE_ALERT", raising=False)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    cached_settings.cache_clear()
    yield {"client": s3_server.client(), "private": s3_buckets["private"], "webhook": webhook}
    cached_settings.cache_clear()


def _nightly_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("matinale_nightly")


@pytest.mark.parametrize(
    ("run_after", "edition", "deadline", "montreal"),
    [
        # Spring forward: 01:00 CET → 06:30 CEST is 4 h 30; Montréal reads 00:30.
        (
            datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
            "2026-03-29",
            datetime(2026, 3, 29, 4, 30, tzinfo=UTC),
            "00:30",
        ),
        # Fall back: 01:00 CEST → 06:30 CET is 6 h 30; Montréal (still on summer time) reads 01:30.
        (
            datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
            "2026-10-25",
            datetime(2026, 10, 25, 5, 30, tzinfo=UTC),
            "01:30",
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_missing_brief_fails_alerts_and_deadline_is_paris_morning(
    empty_night, run_after, edition, deadline, montreal
) -> None:
    from airflow.models import DagRun
    from airflow.models.deadline import Deadline
    from airflow.settings import Session
    from airflow.triggers.callback import CallbackTrigger
    from sqlalchemy import select

    dag = _nightly_dag()
    run = dag.test(run_after=run_after, logical_date=run_after)
    assert run.state == "failed"

    # The task failure alert: one post, naming the sensor and the edition.
    posts = [p["text"] for p in empty_night["webhook"].posts]
    assert len(posts) == 1, posts
    day, month, year = edition[8:], edition[5:7], edition[:4]
    assert "wait_for_brief" in posts[0] and f"{day}/{month}/{year}" in posts[0]
    assert f"No brief for edition {edition}" in posts[0]

    # The status record says what happened, with counts only.
    client, bucket = empty_night["client"], empty_night["private"]
    keys = [
        o["Key"]
        for o in client.list_objects_v2(Bucket=bucket, Prefix=f"status/{edition}/").get(
            "Contents", []
        )
    ]
    assert len(keys) == 1
    record = json.loads(client.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
    assert (record["state"], record["tasks"]["wait_for_brief"]) == ("failed", "failed")
    assert "wait_for_brief" in record["reason"]

    # The deadline Airflow created for this run: 06:30 Paris on the edition's morning.
    session = Session()
    dag_run = session.scalar(
        select(DagRun).where(DagRun.dag_id == "matinale_nightly", DagRun.run_id == run.run_id)
    )
    deadlines = session.scalars(select(Deadline).where(Deadline.dagrun_id == dag_run.id)).all()
    assert [d.deadline_time for d in deadlines] == [deadline]

    # Missed (it is long past): the scheduler queues the callback, the triggerer runs it.
    deadlines[0].handle_miss(session)
    session.flush()
    data = deadlines[0].callback.data
    session.rollback()

    async def trigger() -> list:
        return [
            e.payload
            async for e in CallbackTrigger(
                callback_path=data["path"], callback_kwargs=data["kwargs"]
            ).run()
        ]

    events = asyncio.run(trigger())
    assert events[-1]["state"] == "success", events
    alert = empty_night["webhook"].posts[-1]["text"]
    assert alert.startswith("⏰ Matinale") and f"{day}/{month}/{year}" in alert
    assert f"06:30 Paris ({montreal} Montréal)" in alert
