"""``make stack-test`` outside pytest: one night through the native stack, its bundle verified."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from matinale.dev.stack.native import DAG_ID, NativeStack
from matinale.dev.stack.processes import StackError

__all__ = ["run_stack_test", "verify_bundle"]


def _read(client: Any, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def verify_bundle(client: Any, bucket: str, edition: date) -> dict[str, Any]:
    """Follow latest.json to the published run; check every manifest entry's size and sha256."""
    pointer = json.loads(_read(client, bucket, "latest.json"))
    if pointer.get("edition") != edition.isoformat():
        raise StackError(f"latest.json names edition {pointer.get('edition')!r}, not {edition}")
    manifest = json.loads(_read(client, bucket, pointer["manifest"]))
    if not manifest.get("files"):
        raise StackError(f"{pointer['manifest']} lists no file")
    for entry in manifest["files"]:
        data = _read(client, bucket, pointer["prefix"] + entry["path"])
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise StackError(
                f"{entry['path']} in s3://{bucket}/{pointer['prefix']} differs from the manifest"
            )
    return {"pointer": pointer, "manifest": manifest}


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM (CI cancelling) reaches the ``finally`` that stops the stack, like Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_stack_test(
    *, rows: int = 3_000, approval: bool = True, keep: bool = False, home: Path | None = None
) -> int:
    """``make stack-test``: one night through the native production topology; 0 when published."""
    from matinale.dev.local import fill_inbox
    from matinale.schedule import edition_for
    from matinale.settings import project_home

    started = time.monotonic()
    stack = NativeStack(home or project_home(), approval=approval, keep=keep)
    edition = edition_for(datetime.now(UTC), stack.settings.clocks)
    print(
        f"Native stack in {stack.root} (PostgreSQL, Redis, SeaweedFS, Airflow CeleryExecutor)",
        flush=True,
    )
    try:
        with _sigterm_as_interrupt(), stack:
            fill_inbox(stack.settings, edition, rows=rows, seed=7)
            print(
                f"Ports: {stack.ports}; up in {time.monotonic() - started:.0f} s; triggering {DAG_ID} "
                f"for edition {edition} through the REST API",
                flush=True,
            )
            result = stack.run_night(edition)
            published = verify_bundle(stack.s3_client(), stack.settings.bundle_bucket, edition)
    except StackError as exc:
        print(f"Stack test FAILED: {exc}", file=sys.stderr)
        return 1
    for approval_given in result.approvals:
        print(f"Approved through the API: {approval_given['task_id']} → {approval_given['chosen']}")
    pointer = published["pointer"]
    print(
        f"Run {result.run_id}: {result.state}, {len(result.tasks)} task instances; "
        f"bundle s3://{stack.settings.bundle_bucket}/{pointer['prefix']} "
        f"({len(published['manifest']['files'])} files verified)"
    )
    print(
        f"Stopped every process; seconds per phase {stack.timings}; total {time.monotonic() - started:.0f} s"
    )
    print(f"CPU seconds per service: {stack.cpu}")
    return 0
