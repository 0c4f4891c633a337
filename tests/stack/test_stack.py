"""The production topology, natively, and its live alerts: PostgreSQL, Redis, SeaweedFS and
Airflow's CeleryExecutor (the services of docker-compose.yml as local processes: Docker is not
available here), driven through Airflow's REST API; the scheduler and the triggerer, not
``dag.test()``. One stack start serves every check (each start costs minutes).

One native stack (PostgreSQL, Redis, SeaweedFS, Airflow with the CeleryExecutor) reads a copy
of campaign.yaml whose publish deadline is about two minutes after Airflow starts and whose
approval closes two and a half minutes later (``matinale.dev.stack.clocks``); the ``matinale_alerts``
connection points at a local webhook. One night is triggered, with approval on, and nobody
answers:

1. the night is still waiting for its approval when the deadline passes: the ⏰ alert reaches
   the webhook with both clocks (the scheduler marks the deadline missed, the triggerer posts);
2. at the approval's close the answer becomes « Ne pas publier » by itself: publish is skipped,
   nothing is published, no "edition ready" is sent, the status record says why;
3. staff then clear the approval (a rerun after the close gets an hour) and approve through
   the REST API: the edition is published and the "edition ready" message (counts, overview
   link that opens) reaches the webhook;
4. the production shape held for that night: every task through Celery, the bundle whole in
   S3, work files in the private bucket only, init idempotent, every listener on 127.0.0.1, no
   generated secret in any log; everything started is stopped.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from matinale.dev.local import fill_inbox
from matinale.dev.stack import LOG_SERVERS, NativeStack, verify_bundle
from matinale.dev.stack.clocks import SoonClocks
from matinale.dev.stack.links import link_counts
from matinale.schedule import edition_for, night_of, two_clocks

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
# The night reaches its approval about three minutes after Airflow starts (1,500 rows, two
# cores): the deadline passes while it runs, the approval closes a minute or more after it asks.
SOON = SoonClocks(deadline_in=timedelta(minutes=2), approval_in=timedelta(minutes=4, seconds=30))


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


def _celery_successes(stack: NativeStack, *, at_least: int, patience: float = 30) -> int:
    """Celery task results stored as SUCCESS; a worker stores the last one just after Airflow
    records the task's state, so give it a moment before counting."""
    deadline = time.monotonic() + patience
    while True:
        done = stack.query("SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'")[0][0]
        if done >= at_least or time.monotonic() > deadline:
            return int(done)
        time.sleep(1)


def _the_production_topology_held(stack: NativeStack, edition: Any, run: Any) -> None:
    """What the production shape promises, checked on the night just published: every task
    through Celery, the bundle whole in S3, work files in the private bucket only, init
    idempotent, nothing listening beyond loopback, no generated secret in any log."""
    ran = {task: state for task, state in run.tasks.items() if state != "skipped"}
    assert all(state == "success" for state in ran.values()), run.tasks
    assert {"prepare", "ingest", "segment", "bundle", "publish"} <= set(ran)
    assert stack.query("SELECT state FROM dag_run WHERE run_id = %s", (run.run_id,)) == [
        ("success",)
    ]
    assert _celery_successes(stack, at_least=len(ran)) >= len(ran)
    assert all(ti["hostname"] for ti in run.task_instances)

    # The bundle: latest.json → manifest → every file's size and sha256, in S3.
    client = stack.s3_client()
    published = verify_bundle(client, stack.settings.bundle_bucket, edition)
    manifest, pointer = published["manifest"], published["pointer"]
    paths = {entry["path"] for entry in manifest["files"]}
    assert "index.html" in paths and manifest["segments"], "no segment reached the bundle"
    for segment in manifest["segments"]:
        assert {f"{segment['id']}/index.html", f"{segment['id']}/posts.json"} <= paths
    current = json.loads(
        client.get_object(
            Bucket=stack.settings.bundle_bucket, Key=f"editions/{edition}/current.json"
        )["Body"].read()
    )
    assert current == pointer

    # Workers share no disk: the night's files went to the private bucket, none to a local folder.
    work = client.list_objects_v2(
        Bucket=stack.settings.private_bucket, Prefix=f"work/runs/{edition}/{pointer['run']}/"
    )
    keys = {item["Key"].split(f"{pointer['run']}/", 1)[1] for item in work.get("Contents", [])}
    assert {
        "inputs.json",
        "segments.json",
        "private/assignments.parquet",
        "bundle/manifest.json",
    } <= keys
    assert not (stack.settings.var_dir / "work").exists()

    # Init is idempotent, as compose runs it at every `up`: the connection is updated in
    # place, the buckets are kept, and no key is printed.
    again = stack.init()
    assert "connection aws_default updated" in again and "buckets created: none" in again, again

    # Nothing listens beyond loopback: every socket of every service (Airflow's log
    # servers, the scheduler's health check, PostgreSQL, Redis, SeaweedFS) is on 127.0.0.1.
    listening = stack.listening()
    services = {name for name, _, _ in listening}
    assert {"api-server", "scheduler", "postgres", "redis", "s3", "links"} <= services, listening
    assert set(LOG_SERVERS) <= services, listening
    assert {address for _, address, _ in listening} == {"127.0.0.1"}, listening

    # No generated secret (database, broker, S3 keys, JWT, Fernet, admin) in any log.
    secrets = stack.secret_values()
    for log in stack.log_files():
        text = log.read_text(encoding="utf-8", errors="replace")
        leaked = [f"{value[:3]}…" for value in secrets if value in text]
        assert not leaked, f"{log.relative_to(stack.root)} shows secrets {leaked}"


def _the_link_service_served(stack: NativeStack, edition: Any) -> None:
    """Issue 17 on the production shape: the link service (its own PostgreSQL database, its
    read-only S3 identity) is healthy, a segment's /p/ link redirects to its published page,
    which loads, and the open is counted in PostgreSQL after a flush."""
    import httpx

    from matinale.links import LinkState

    health = httpx.get(f"{stack.links_url}/healthz", timeout=5).json()
    assert health["ok"] is True, health
    client, links = stack.s3_client(), stack.settings.link_service
    pointer = json.loads(
        client.get_object(Bucket=stack.settings.bundle_bucket, Key="latest.json")["Body"].read()
    )
    manifest = json.loads(
        client.get_object(
            Bucket=stack.settings.bundle_bucket,
            Key=f"{pointer['prefix'].rstrip('/')}/manifest.json",
        )["Body"].read()
    )
    segment = manifest["segments"][0]["id"]
    # Publish registers the tokens (links/tokens.json); ensure_tokens keeps the ones it wrote.
    token = LinkState(client, links.state_bucket, links.state_prefix).ensure_tokens([segment])[
        segment
    ]
    deadline = time.monotonic() + 20  # the service re-reads the state every 5 s
    while True:
        answer = httpx.get(f"{stack.links_url}/p/{token}", timeout=5)
        if answer.status_code == 302 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert answer.status_code == 302, (answer.status_code, answer.text[:200])
    assert f"/{segment}/index.html?" in answer.headers["location"]
    page = httpx.get(answer.headers["location"], timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    deadline = time.monotonic() + 10  # counts are flushed every second
    while link_counts(stack, edition.isoformat()).get("open", 0) < 1:
        assert time.monotonic() < deadline, link_counts(stack, edition.isoformat())
        time.sleep(0.5)


def test_deadline_alert_rejection_at_close_and_edition_ready(tmp_path: Path, webhook: Any) -> None:
    started = time.monotonic()
    stack = NativeStack(
        ROOT, root=tmp_path / "stack", approval=True, soon=SOON, alert_webhook=webhook.url
    )
    with stack:
        clocks = stack.settings.clocks
        edition = edition_for(datetime.now(UTC), clocks)
        night = night_of(edition, clocks)
        fill_inbox(stack.settings, edition, rows=1_500, seed=7)
        run_id = stack.trigger(edition)
        assert datetime.now(UTC) < night.deadline, f"triggered after the deadline: {stack.timings}"
        while not stack.pending_approvals(run_id):
            state = stack.api("GET", f"/api/v2/dags/matinale_nightly/dagRuns/{run_id}").json()
            assert state["state"] in {"queued", "running"}, state
            # Asked after the close, the approval would wait an hour: say so instead of waiting.
            assert datetime.now(UTC) < night.approval_closes - timedelta(seconds=5), (
                f"the night reached approval after its close {night.approval_closes}; "
                f"increase SOON.approval_in (stack started in {stack.timings})"
            )
            time.sleep(2)
        asked = datetime.now(UTC)

        # 2. Nobody answers: « Ne pas publier » at the close, nothing published, no 📰.
        wait = (night.approval_closes - datetime.now(UTC)).total_seconds() + 120
        rejected_run = stack.wait_for_run(run_id, approve=False, timeout=wait)
        assert rejected_run.tasks["approval"] == "success", rejected_run.tasks
        assert rejected_run.tasks["publish"] == "skipped", rejected_run.tasks
        approval = next(t for t in rejected_run.task_instances if t["task_id"] == "approval")
        answered_at = _when(approval["end_date"])
        assert night.approval_closes <= answered_at < night.approval_closes + timedelta(minutes=1)
        rejected = _status(stack, edition.isoformat(), run_id)
        assert (rejected["state"], rejected["detail"]) == ("rejected", "timeout"), rejected
        client, bundle = stack.s3_client(), stack.settings.bundle_bucket
        assert client.list_objects_v2(Bucket=bundle, Prefix="editions/").get("KeyCount", 0) == 0
        with pytest.raises(ClientError):
            client.head_object(Bucket=bundle, Key="latest.json")

        # 1. The deadline passed while the night waited: ⏰ with both clocks, from the triggerer.
        alerts = [text for text in _posts(webhook, "⏰") if run_id in text]
        assert len(alerts) == 1, webhook.posts
        assert two_clocks(night.deadline, clocks) in alerts[0], alerts[0]
        assert f"{edition:%d/%m/%Y}" in alerts[0] and "état : running" in alerts[0]
        missed = stack.query(
            "SELECT d.missed, d.deadline_time FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
            "WHERE r.run_id = %s",
            (run_id,),
        )
        assert [(m, t.astimezone(UTC)) for m, t in missed] == [(True, night.deadline)], missed
        assert _posts(webhook, "📰", patience=0) == []

        # 3. Staff clear the approval and approve: published, then 📰 with counts and a link.
        stack.clear(run_id, ["approval"])
        published_run = stack.wait_for_run(run_id, approve=True, timeout=300)
        assert published_run.tasks["publish"] == "success", published_run.tasks
        assert [a["chosen"] for a in published_run.approvals] == ["Publier"]
        published = _status(stack, edition.isoformat(), run_id)
        assert published["state"] == "published", published
        prefix, counts = published["published"]["prefix"], published["counts"]
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

        # One alert, one edition-ready message; the webhook's URL (a secret) is in no log.
        assert len(webhook.posts) == 2, webhook.posts
        for log in stack.log_files():
            assert "s3cr3t-token" not in log.read_text(errors="replace"), log

        _the_production_topology_held(stack, edition, published_run)
        _the_link_service_served(stack, edition)

    assert stack.alive() == [], "processes outlived the stack"
    assert stack.postgres_dir is not None and not stack.postgres_dir.exists(), (
        "the PostgreSQL folder was not removed"
    )
    print(
        f"stack alerts: {time.monotonic() - started:.0f} s; approval asked "
        f"{(night.approval_closes - asked).total_seconds():.0f} s before its close; "
        f"phases {stack.timings}"
    )
