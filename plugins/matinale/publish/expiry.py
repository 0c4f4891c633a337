"""Retention in the bundle bucket: old editions and runs that were never promoted go,
the pointers stay valid.

Two rules (``matinale.retention.purge`` applies them with the per-person ones):

1. an edition whose date is more than ``retention.published_editions_days`` before today
   (Paris date) is removed whole: its ``current.json`` first, then every run under it, so
   no pointer ever names a missing object. The edition ``latest.json`` names is never
   removed, however old (nothing newer was published: it is still what readers get);
   ``null`` keeps every edition.
2. a run no pointer names and no promotion ever named (a publish that failed or was cut
   short and could not clean up after itself: S3 was down) is removed once its newest
   object is more than a day old, whatever its date: a publish still uploading is never
   touched. Runs that were promoted before stay (``matinale rollback`` targets) until
   rule 1 removes their edition.

When the pointers are split (see ``moves.pointer_splits``) or ``latest.json`` is missing
while editions exist, nothing is removed from the bundle bucket: a publish must first
complete the move. The history (``history/``) is an audit trail and is kept.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from matinale.publish.moves import pointer_splits
from matinale.publish.pointers import (
    LATEST,
    _common_prefixes,
    _currents,
    _edition_days,
    _history_events,
    _promoted_runs,
    current_key,
)
from matinale.publish.s3 import delete_keys, read_pointer
from matinale.s3types import S3Client

__all__ = ["UNPROMOTED_GRACE", "expire_bundles"]

log = logging.getLogger(__name__)

#: How old the newest object of a never-promoted run must be before it is removed.
UNPROMOTED_GRACE = timedelta(days=1)


def _objects(client: S3Client, bucket: str, prefix: str) -> list[tuple[str, datetime]]:
    return [
        (item["Key"], item["LastModified"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]


def _bucket_missing(client: S3Client, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchBucket", "NotFound"}:
            return True
        raise
    return False


def expire_bundles(
    client: S3Client,
    bucket: str,
    *,
    today: date,
    keep_days: int | None,
    now: datetime,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Apply both rules to the bundle bucket; counts of what was (or would be) removed.

    ``today`` is the Paris date the editions' age counts from; ``now`` (aware) is the
    instant the unpromoted runs' age counts from.
    """
    report: dict[str, Any] = {
        "keep_published_from": None
        if keep_days is None
        else (today - timedelta(days=keep_days)).isoformat(),
        "editions_deleted": 0,
        "edition_objects_deleted": 0,
        "unpromoted_runs_deleted": 0,
        "unpromoted_objects_deleted": 0,
        "bundle_skipped": None,
    }
    if _bucket_missing(client, bucket):
        report["bundle_skipped"] = f"bucket {bucket} does not exist"
        return report
    days = _edition_days(client, bucket)
    currents = _currents(client, bucket, days)
    latest = read_pointer(client, bucket, LATEST)
    splits = pointer_splits(client, bucket, currents)
    if splits or (latest is None and days):
        reason = splits[0].message if splits else "latest.json is missing"
        report["bundle_skipped"] = f"the pointers are not consistent ({reason})"
        log.warning("Retention: nothing removed from s3://%s: %s", bucket, report["bundle_skipped"])
        return report
    served = (latest or {}).get("edition")
    cutoff = report["keep_published_from"]
    expired = [d for d in days if cutoff is not None and d < cutoff and d != served]
    for day in expired:
        keys = [key for key, _ in _objects(client, bucket, f"editions/{day}/")]
        if not keys:
            continue  # an empty folder some servers keep after its objects went
        pointer = current_key(day)
        rest = [key for key in keys if key != pointer]
        if not dry_run:
            if pointer in keys:
                delete_keys(client, bucket, [pointer])  # first: never a pointer to nothing
            delete_keys(client, bucket, rest)
        report["editions_deleted"] += 1
        report["edition_objects_deleted"] += len(keys)

    named = {(str(latest.get("edition")), str(latest.get("run")))} if latest else set()
    named |= {(day, str(c.get("run"))) for day, c in currents.items()}
    promoted = _promoted_runs(_history_events(client, bucket)) | named
    for day in (d for d in days if d not in expired):
        for run in _common_prefixes(client, bucket, f"editions/{day}/"):
            if (day, run) in promoted:
                continue
            objects = _objects(client, bucket, f"editions/{day}/{run}/")
            if not objects or now - max(at for _, at in objects) < UNPROMOTED_GRACE:
                continue
            if not dry_run:
                delete_keys(client, bucket, [key for key, _ in objects])
            report["unpromoted_runs_deleted"] += 1
            report["unpromoted_objects_deleted"] += len(objects)
    return report
