"""The pointers readers follow (``latest.json`` → ``editions/<date>/current.json`` → a run),
the history of their moves, and what staff do with them: list editions, roll back."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from matinale.bundle import MANIFEST
from matinale.publish.delivery import DELIVERY, delivery_key
from matinale.publish.moves import PointerMoveError, move_pointers, pointer_splits
from matinale.publish.s3 import (
    PublishError,
    _exists,
    _put_json,
    _s3_failure,
    check_access,
    list_keys,
    read_pointer,
)
from matinale.s3types import S3Client

__all__ = [
    "HISTORY",
    "LATEST",
    "current_key",
    "edition_prefix",
    "list_editions",
    "promote",
    "resolve_target",
    "rollback",
    "split_pointers",
]

log = logging.getLogger(__name__)

LATEST = "latest.json"
HISTORY = "history"
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def edition_prefix(edition: date, run: str) -> str:
    return f"editions/{edition.isoformat()}/{run}"


def current_key(edition: date | str) -> str:
    day = edition if isinstance(edition, str) else edition.isoformat()
    return f"editions/{day}/current.json"


def _history(
    client: S3Client, bucket: str, event: str, edition: str, run: str, **details: Any
) -> None:
    now = datetime.now(UTC)
    key = f"{HISTORY}/{now:%Y%m%dT%H%M%S%fZ}-{event}-{edition}-{run}.json"
    _put_json(
        client,
        bucket,
        key,
        {
            "event": event,
            "edition": edition,
            "run": run,
            "at": now.isoformat(timespec="seconds"),
            **details,
        },
    )


def promote(
    client: S3Client,
    bucket: str,
    edition: date,
    run: str,
    *,
    event: str = "publish",
    actor: str = "matinale",
    reason: str = "",
    private_bucket: str | None = None,
) -> dict[str, Any]:
    """Move the pointers to a run: current.json of its date, then latest.json (written last,
    and only if this edition is not older than the one latest.json names), then the delivery
    pointer and the history event.

    A failure between the two pointer writes puts back what was written, or says which
    pointer moved (:class:`~matinale.publish.moves.PointerMoveError`); a failure after them
    says the run is promoted and what is left to do. A retry of the run completes it.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    target = edition_prefix(edition, run)
    pointer = {
        "edition": edition.isoformat(),
        "run": run,
        "prefix": f"{target}/",
        "manifest": f"{target}/{MANIFEST}",
        "promoted_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "event": event,
    }
    previous_latest = read_pointer(client, bucket, LATEST)
    previous_current = read_pointer(client, bucket, current_key(edition))
    moves_latest = (
        event == "rollback"
        or previous_latest is None
        or previous_latest.get("edition", "") <= edition.isoformat()
    )
    move_pointers(
        client,
        bucket,
        pointer,
        [(current_key(edition), previous_current)]
        + ([(LATEST, previous_latest)] if moves_latest else []),
    )
    doing = "writing the delivery pointer to"
    where = private_bucket or bucket
    try:
        if private_bucket:
            key = delivery_key(edition, run)
            if _exists(client, private_bucket, key):
                _put_json(
                    client,
                    private_bucket,
                    f"{DELIVERY}/{edition.isoformat()}/current.json",
                    {"edition": edition.isoformat(), "run": run, "delivery": key},
                )
        doing, where = "recording the promotion in the history of", bucket
        _history(
            client,
            bucket,
            event,
            edition.isoformat(),
            run,
            actor=actor,
            reason=reason,
            latest_moved=moves_latest,
            previous_latest=(previous_latest or {}).get("prefix"),
            previous_current=(previous_current or {}).get("prefix"),
        )
    except (BotoCoreError, ClientError) as exc:
        moved = "both pointers name it" if moves_latest else f"{current_key(edition)} names it"
        raise PointerMoveError(
            f"{_s3_failure(client, where, doing, exc)}. Run {run} of {edition} is promoted ({moved}) "
            "but this step was not done: retry to complete it (nothing is uploaded again)",
            unpromoted=False,
        ) from exc
    return {**pointer, "latest_moved": moves_latest}


def _was_promoted(client: S3Client, bucket: str, edition: date, run: str) -> bool:
    """Whether the history records a promotion of this run (from the keys alone)."""
    suffix = f"-{edition.isoformat()}-{run}.json"
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{HISTORY}/"
    ):
        for item in page.get("Contents", []):
            if item["Key"].endswith(suffix):
                return True
    return False


# --- editions and rollback --------------------------------------------------------------


def _common_prefixes(client: S3Client, bucket: str, prefix: str) -> list[str]:
    names: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    ):
        names.extend(
            item["Prefix"][len(prefix) :].rstrip("/") for item in page.get("CommonPrefixes", [])
        )
    return sorted(names)


def _history_events(client: S3Client, bucket: str) -> list[dict[str, Any]]:
    events = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{HISTORY}/"
    ):
        for item in page.get("Contents", []):
            events.append(
                json.loads(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            )
    return sorted(events, key=lambda e: e.get("at", ""))


def _promoted_runs(events: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(edition, run) of every run a promotion or a replacement in the history names.

    A run replaced by the next promotion counts even when its own event is missing (a
    promotion stopped after its pointers moved): that event names it as ``previous_*``.
    """
    runs = {
        (e["edition"], e["run"])
        for e in events
        if e.get("event") in {"publish", "publish-retry", "rollback"}
    }
    for event in events:
        for field in ("previous_current", "previous_latest"):
            parts = str(event.get(field) or "").strip("/").split("/")
            if len(parts) == 3 and parts[0] == "editions":
                runs.add((parts[1], parts[2]))
    return runs


def _currents(client: S3Client, bucket: str, days: list[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for day in days:
        pointer = read_pointer(client, bucket, current_key(day))
        if pointer is not None:
            found[day] = pointer
    return found


def _edition_days(client: S3Client, bucket: str) -> list[str]:
    return [d for d in _common_prefixes(client, bucket, "editions/") if _DATE.match(d)]


def split_pointers(client: S3Client, bucket: str) -> list[str]:
    """Sentences naming each split of latest.json and a date's current.json (none: consistent)."""
    currents = _currents(client, bucket, _edition_days(client, bucket))
    return [split.message for split in pointer_splits(client, bucket, currents)]


def list_editions(client: S3Client, bucket: str) -> list[dict[str, Any]]:
    """Every edition and run with its status: latest, current, promoted before, not promoted
    (uploaded but never promoted: a failed check or an interrupted publish) or incomplete.

    ``split`` is True on the runs a split of the pointers names (see ``split_pointers``).
    """
    check_access(client, bucket)
    latest = read_pointer(client, bucket, LATEST) or {}
    promoted_runs = _promoted_runs(_history_events(client, bucket))
    days = _edition_days(client, bucket)
    currents = _currents(client, bucket, days)
    split_runs = {run for split in pointer_splits(client, bucket, currents) for run in split.runs}
    rows = []
    for day in days:
        current = currents.get(day, {})
        for run in _common_prefixes(client, bucket, f"editions/{day}/"):
            manifest_key = f"editions/{day}/{run}/{MANIFEST}"
            if latest.get("edition") == day and latest.get("run") == run:
                status = "latest"
            elif current.get("run") == run:
                status = "current"
            elif (day, run) in promoted_runs:
                status = "promoted before"
            elif _exists(client, bucket, manifest_key):
                status = "not promoted"
            elif not list_keys(client, bucket, f"editions/{day}/{run}/"):
                continue  # an empty folder some servers keep after its objects went
            else:
                status = "incomplete"
            rows.append(
                {"edition": day, "run": run, "status": status, "split": (day, run) in split_runs}
            )
    return rows


def resolve_target(client: S3Client, bucket: str, target: str) -> tuple[date, str]:
    """``YYYY-MM-DD/<run>`` as given, or ``YYYY-MM-DD``: the run that was promoted last for
    that date, other than the one latest.json names now."""
    day, _, run = target.partition("/")
    if not _DATE.match(day):
        raise PublishError(f"--to {target!r}: expected YYYY-MM-DD or YYYY-MM-DD/<run>")
    if run:
        return date.fromisoformat(day), run
    latest = read_pointer(client, bucket, LATEST) or {}
    candidates = [
        e["run"]
        for e in _history_events(client, bucket)
        if e.get("edition") == day
        and e.get("event") in {"publish", "publish-retry", "rollback"}
        and not (latest.get("edition") == day and latest.get("run") == e["run"])
    ]
    if not candidates:
        raise PublishError(
            f"no earlier promoted run for {day}: see `matinale editions` and pass --to {day}/<run>"
        )
    return date.fromisoformat(day), candidates[-1]


def rollback(
    client: S3Client,
    bucket: str,
    target: str,
    *,
    actor: str,
    reason: str = "",
    private_bucket: str | None = None,
) -> dict[str, Any]:
    """Move the pointers back to an earlier promoted run: staff's kill switch.

    The target must have been promoted before and be complete (every file of its manifest
    present with its size). Links inside its pages were presigned when it was published:
    the result says when they expire.
    """
    check_access(client, bucket)
    edition, run = resolve_target(client, bucket, target)
    prefix = edition_prefix(edition, run)
    events = _history_events(client, bucket)
    if not any(
        e.get("edition") == edition.isoformat()
        and e.get("run") == run
        and e.get("event") in {"publish", "publish-retry", "rollback"}
        for e in events
    ):
        raise PublishError(
            f"{edition}/{run} was never promoted (a failed or interrupted publish): roll back only to a run listed as promoted by `matinale editions`"
        )
    manifest = read_pointer(client, bucket, f"{prefix}/{MANIFEST}")
    if manifest is None:
        raise PublishError(
            f"{edition}/{run} has no manifest: it is incomplete and cannot be served"
        )
    sizes = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/"
    ):
        sizes.update(
            {item["Key"][len(prefix) + 1 :]: item["Size"] for item in page.get("Contents", [])}
        )
    broken = [e["path"] for e in manifest["files"] if sizes.get(e["path"]) != e["bytes"]]
    if broken:
        raise PublishError(
            f"{edition}/{run} is incomplete ({len(broken)} files missing or of the wrong size, e.g. {broken[0]}): choose another run"
        )
    pointer = promote(
        client,
        bucket,
        edition,
        run,
        event="rollback",
        actor=actor,
        reason=reason,
        private_bucket=private_bucket,
    )
    expires = None
    if manifest.get("published_at") and manifest.get("link_expiry_hours"):
        expires = (
            datetime.fromisoformat(manifest["published_at"])
            + timedelta(hours=int(manifest["link_expiry_hours"]))
        ).isoformat(timespec="minutes")
    log.warning("Rollback by %s to %s/%s%s", actor, edition, run, f" ({reason})" if reason else "")
    return {**pointer, "links_expire_at": expires}
