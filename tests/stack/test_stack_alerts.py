"""Live alerts on the production topology: the scheduler and the triggerer, not ``dag.test()``.

One native stack (PostgreSQL, Redis, SeaweedFS, Airflow with the CeleryExecutor) reads a copy
of campaign.yaml whose publish deadline is two minutes after Airflow starts and whose
approval closes two minutes later (``matinale.dev.stack.clocks``); the ``matinale_alerts``
connection points at a local webhook. Two runs of the same edition are triggered at once,
before the deadline, so Airflow watches both against it:

1. staff approve the first through the REST API: it is published, and the "edition ready"
   message (counts, overview link) reaches the webhook;
2. nobody answers the second (no visuals, to be quick): it is still waiting when the deadline
   passes, so the ⏰ alert reaches the webhook with both clocks; at the approval's close the
   answer becomes « Ne pas publier » by itself and nothing of it is published.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from matinale.dev.local import fill_inbox
from matinale.dev.stack import NativeStack
from matinale.dev.stack.clocks import SoonClocks
from matinale.schedule import edition_for, night_of, two_clocks

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
SOON = SoonClocks(deadline_in=timedelta(minutes=2), approval_in=timedelta(minutes=4))


def _status(stack: NativeStack, edition: str, dag_run_id: str) -> dict[str, Any]:
    """The night's status record (private bucket) written by the run ``dag_run_id``."""
    client, bucket = stack.s3_client(), stack.settings.private_bucket
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"status/{edition}/")
    for item in listed.get("Contents", []):
        record = json.loads(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        if record.get("dag_run_id") == dag_run_id:
            return dict(record)
    raise AssertionError(f"no status record for run {dag_run_id}")


def _posts(webhook: Any, mark: str, *, at_least: int = 1, patience: float = 30) -> list[str]:
    """The texts posted to the webhook that start with ``mark``; wait a moment for them."""
    deadline = time.monotonic() + patience
    while True:
        texts = [p["text"] for p in webhook.posts if p["text"].startswith(mark)]
        if len(texts) >= at_least or time.monotonic() > deadline:
            return texts
        time.sleep(1)


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_deadline_alert_rejection_at_close_and_edition_ready(tmp_path: Path, webhook: Any) -> None:
    started = time.monotonic()
    stack = NativeStack(
        ROOT, root=tmp_path / "stack", approval=True, soon=SOON, alert_webhook=webhook.url
    )
    with stack:
        clocks = stack.settings.clocks
        edition = edition_for(datetime.now(UTC), clocks)
        night = night_of(edition, clocks)
        fill_inbox(stack.settings, edition, rows=3_000, seed=7)
        approved = stack.trigger(edition)
        unanswered = stack.trigger(edition, skip_visuals=True)
        assert datetime.now(UTC) < night.deadline, (
            f"both runs must exist before the deadline {night.deadline}: the stack took "
            f"{stack.timings} to start"
        )

        # 3. A normal approved night: published, then "edition ready" with counts and link.
        first = stack.wait_for_run(approved, approve=True, timeout=400)
        assert first.tasks["publish"] == "success", first.tasks
        assert [a["chosen"] for a in first.approvals] == ["Publier"]
        published = _status(stack, edition.isoformat(), approved)
        assert published["state"] == "published"
        prefix = published["published"]["prefix"]
        counts = published["counts"]
        (ready,) = _posts(webhook, "📰")
        assert f"l’édition du {edition:%d/%m/%Y} est publiée (run {published['run']})" in ready
        assert (
            f"{counts['segments']} segments, {counts['posts']} posts, {counts['cards']} visuels"
            in ready
        ), (ready, counts)
        assert counts["segments"] > 0 and counts["cards"] > 0
        link = f"{stack.api_url}/matinale/files/{prefix}index.html"
        assert ready.endswith(f"Vue d’ensemble : {link}"), ready
        page = stack.api("GET", link.removeprefix(stack.api_url))
        assert page.status_code == 200 and "<html" in page.text.lower()

        # 1. Approval on, no answer: still waiting at the deadline, rejected at the close.
        wait = (night.approval_closes - datetime.now(UTC)).total_seconds() + 120
        second = stack.wait_for_run(unanswered, approve=False, timeout=max(wait, 60))
        assert second.tasks["approval"] == "success" and second.tasks["publish"] == "skipped"
        rejected = _status(stack, edition.isoformat(), unanswered)
        assert (rejected["state"], rejected["detail"]) == ("rejected", "timeout"), rejected
        approval = next(t for t in second.task_instances if t["task_id"] == "approval")
        answered_at = _when(approval["end_date"])
        assert night.approval_closes <= answered_at < night.approval_closes + timedelta(minutes=1)
        client, bundle = stack.s3_client(), stack.settings.bundle_bucket
        mine = client.list_objects_v2(
            Bucket=bundle, Prefix=f"editions/{edition}/{rejected['run']}/"
        )
        assert mine.get("KeyCount", 0) == 0, "a rejected run published files"
        latest = json.loads(client.get_object(Bucket=bundle, Key="latest.json")["Body"].read())
        assert latest["prefix"] == prefix, "latest.json left the approved edition"

        # 2. The deadline passed while that run waited: ⏰ with both clocks, from the triggerer.
        alerts = [text for text in _posts(webhook, "⏰") if unanswered in text]
        assert alerts, webhook.posts
        assert two_clocks(night.deadline, clocks) in alerts[0], alerts[0]
        assert f"{edition:%d/%m/%Y}" in alerts[0]
        missed = stack.query(
            "SELECT d.missed, d.deadline_time FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
            "WHERE r.run_id = %s",
            (unanswered,),
        )
        assert [(m, t.astimezone(UTC)) for m, t in missed] == [(True, night.deadline)], missed
        # The rejected night sent no "edition ready"; the webhook's URL (a secret) is in no log.
        assert len(_posts(webhook, "📰", patience=0)) == 1
        for log in stack.log_files():
            assert "s3cr3t-token" not in log.read_text(errors="replace"), log

    assert stack.alive() == [], "processes outlived the stack"
    print(f"stack alerts: {time.monotonic() - started:.0f} s; phases {stack.timings}")
