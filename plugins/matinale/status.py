"""What became of each night: one small status record per run, and the editions staff see.

The nightly DAG's last task writes ``status/<edition>/<run>.json`` to the private bucket:
the outcome (published, skipped with its reason, rejected, failed), counts and segment
sizes. Counts only: a status record never holds a supporter's data, so the Matinale view
can show it. ``recent_editions`` joins those records with the published pointers and
manifests of the bundle bucket.

Takes a boto3 client; nothing here imports Airflow.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from matinale.errors import MatinaleError
from matinale.s3types import S3Client

__all__ = [
    "SCHEMA",
    "STATES",
    "StatusError",
    "card_keys",
    "check_edition",
    "check_run",
    "read_json",
    "recent_editions",
    "status_key",
    "write_status",
]

SCHEMA = "matinale.status/1"
PREFIX = "status"
# published: pointers moved; skipped: not published on purpose (silence, dry run, stale);
# rejected: staff said no or did not answer; failed: a task failed; running: not finished.
STATES = ("published", "skipped", "rejected", "failed", "running")
_RUN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}$")
_MAX_CARDS = 4


class StatusError(MatinaleError, ValueError):
    """An edition date or run slug that cannot name a status record."""


def check_edition(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StatusError(f"{text[:40]!r} is not an edition date (YYYY-MM-DD)") from None


def check_run(text: str) -> str:
    if not _RUN.match(text):
        raise StatusError(f"{text[:40]!r} is not a run slug such as 20261123T001502Z-3f9c")
    return text


def status_key(edition: date, run: str) -> str:
    return f"{PREFIX}/{edition.isoformat()}/{check_run(run)}.json"


def write_status(client: S3Client, bucket: str, record: dict[str, Any]) -> str:
    """Write one run's record (overwriting that run's earlier record only)."""
    if record.get("state") not in STATES:
        raise StatusError(f"status state must be one of {STATES}, got {record.get('state')!r}")
    key = status_key(check_edition(record["edition"]), record["run"])
    body = json.dumps(
        {"schema": SCHEMA, **record}, ensure_ascii=False, indent=1, sort_keys=True
    ).encode()
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return key


def read_json(client: S3Client, bucket: str, key: str) -> Any | None:
    """An object parsed as JSON, or None when it does not exist."""
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def _folders(client: S3Client, bucket: str, prefix: str) -> list[str]:
    names: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names.extend(
            item["Prefix"][len(prefix) :].rstrip("/") for item in page.get("CommonPrefixes", [])
        )
    return names


def _keys(client: S3Client, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def card_keys(manifest: dict[str, Any], prefix: str, limit: int = _MAX_CARDS) -> list[str]:
    """Up to ``limit`` card images of a published run, as bucket keys: one per theme and format
    first (``cards/<theme>-<format>.jpg``), then one per segment, then any, so they differ."""
    cards = [entry for entry in manifest.get("files", []) if entry.get("kind") == "card"]
    picked: list[dict[str, Any]] = []
    for name_of in (
        lambda e: e["path"].rsplit("/", 1)[-1],
        lambda e: e.get("segment"),
        lambda e: e["path"],
    ):
        seen = {name_of(entry) for entry in picked}
        for entry in cards:
            if len(picked) < limit and name_of(entry) not in seen and entry not in picked:
                picked.append(entry)
                seen.add(name_of(entry))
    return [prefix.rstrip("/") + "/" + entry["path"] for entry in picked]


def recent_editions(
    client: S3Client, *, private_bucket: str, bundle_bucket: str, limit: int = 10
) -> list[dict[str, Any]]:
    """The last ``limit`` editions, newest first, with their runs, pointer and card keys."""
    names = set(_folders(client, private_bucket, f"{PREFIX}/")) | set(
        _folders(client, bundle_bucket, "editions/")
    )
    editions = []
    for name in sorted(names, reverse=True):
        try:
            check_edition(name)
        except StatusError:
            continue  # a stray folder is not an edition
        editions.append(name)
        if len(editions) == limit:
            break
    latest = read_json(client, bundle_bucket, "latest.json") or {}
    out = []
    for name in editions:
        records = [
            read_json(client, private_bucket, key)
            for key in sorted(_keys(client, private_bucket, f"{PREFIX}/{name}/"), reverse=True)
        ]
        runs: list[dict[str, Any]] = [run for run in records if isinstance(run, dict)]
        current = read_json(client, bundle_bucket, f"editions/{name}/current.json")
        cards: list[str] = []
        manifest: dict[str, Any] = {}
        if current:
            manifest = read_json(client, bundle_bucket, current["manifest"]) or {}
            cards = card_keys(manifest, current["prefix"])
        out.append(
            {
                "edition": name,
                "runs": runs,
                "current": current,
                "is_latest": bool(current)
                and latest.get("prefix") == (current or {}).get("prefix"),
                "segments": manifest.get("segments")
                or (runs[0].get("segments") if runs else [])
                or [],
                "cards": cards,
            }
        )
    return out
