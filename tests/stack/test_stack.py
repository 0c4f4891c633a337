"""The production topology, natively: PostgreSQL, Redis, SeaweedFS and Airflow's CeleryExecutor.

One night of ``matinale_nightly`` is triggered through Airflow's REST API on the same services
as docker-compose.yml (run as local processes: Docker is not available here), approved through
the API when the DAG asks for it, and its bundle checked in S3. Everything started is stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from matinale.dev.local import fill_inbox
from matinale.dev.stack import LOG_SERVERS, NativeStack, verify_bundle

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]


def _celery_successes(stack: NativeStack, *, at_least: int, patience: float = 30) -> int:
    """Celery task results stored as SUCCESS; a worker stores the last one just after Airflow
    records the task's state, so give it a moment before counting."""
    deadline = time.monotonic() + patience
    while True:
        done = stack.query("SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'")[0][0]
        if done >= at_least or time.monotonic() > deadline:
            return int(done)
        time.sleep(1)


def test_night_runs_on_the_production_topology(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from matinale.schedule import edition_for

    stack = NativeStack(ROOT, root=tmp_path / "stack", approval=True)
    edition = edition_for(datetime.now(UTC), stack.settings.clocks)
    with stack:
        fill_inbox(stack.settings, edition, rows=3_000, seed=7)
        result = stack.run_night(edition)

        # Airflow: the run and its task instances live in PostgreSQL; every task went through
        # Celery (its result backend is the same database) and succeeded.
        assert result.state == "success"
        assert all(state == "success" for state in result.tasks.values()), result.tasks
        assert {"prepare", "ingest", "segment", "bundle", "publish"} <= set(result.tasks)
        assert stack.query("SELECT state FROM dag_run WHERE run_id = %s", (result.run_id,)) == [
            ("success",)
        ]
        assert _celery_successes(stack, at_least=len(result.tasks)) >= len(result.tasks)
        assert all(ti["hostname"] for ti in result.task_instances)

        # Approval: when the DAG asks staff (HITL), the stack answered through the REST API.
        approval_tasks = stack.approval_tasks()
        assert sorted({a["task_id"] for a in result.approvals}) == sorted(approval_tasks)

        # The bundle: latest.json → manifest → every file's size and sha256, in S3.
        client = stack.s3_client()
        published = verify_bundle(client, stack.settings.bundle_bucket, edition)
        manifest, pointer = published["manifest"], published["pointer"]
        paths = {entry["path"] for entry in manifest["files"]}
        assert "index.html" in paths
        assert manifest["segments"], "no segment reached the bundle"
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
        assert {"api-server", "scheduler", "postgres", "redis", "s3"} <= services, listening
        assert set(LOG_SERVERS) <= services, listening
        assert {address for _, address, _ in listening} == {"127.0.0.1"}, listening

        # No generated secret (database, broker, S3 keys, JWT, Fernet, admin) in any log.
        secrets = stack.secret_values()
        for log in stack.log_files():
            text = log.read_text(encoding="utf-8", errors="replace")
            leaked = [f"{value[:3]}…" for value in secrets if value in text]
            assert not leaked, f"{log.relative_to(stack.root)} shows secrets {leaked}"

    assert stack.alive() == [], "processes outlived the stack"
    assert stack.postgres_dir is not None and not stack.postgres_dir.exists(), (
        "the PostgreSQL folder was not removed"
    )
