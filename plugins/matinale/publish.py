"""Publish a bundle to S3 atomically: files, verification, then pointers, latest.json last.

Readers only ever follow ``latest.json`` → ``editions/<date>/current.json`` → a run prefix,
so a reader never sees half a bundle: until the pointers move, the previous run is served.
Takes a boto3 client; ``matinale.airflow`` builds it from the ``aws_default`` connection.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

from matinale.bundle import MANIFEST, content_type
from matinale.store import Store

__all__ = ["LATEST", "PublishError", "edition_prefix", "publish_bundle", "read_pointer"]

LATEST = "latest.json"


class PublishError(RuntimeError):
    """Publishing failed; the pointers still name the previous run."""


def edition_prefix(edition: date, run: str) -> str:
    return f"editions/{edition.isoformat()}/{run}"


def _verify(client: Any, bucket: str, key: str, entry: dict[str, Any]) -> None:
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    if len(body) != entry["bytes"] or hashlib.sha256(body).hexdigest() != entry["sha256"]:
        raise PublishError(f"s3://{bucket}/{key}: read back {len(body)} bytes that do not match the manifest; nothing promoted")


def read_pointer(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def publish_bundle(client: Any, bucket: str, store: Store, prefix: str, *, edition: date, run: str) -> dict[str, Any]:
    """Upload every bundle file, read each back, then move the pointers (latest.json last)."""
    manifest_bytes = store.get_bytes(f"{prefix}/{MANIFEST}")
    manifest = json.loads(manifest_bytes)
    target = edition_prefix(edition, run)
    for entry in manifest["files"]:
        data = store.get_bytes(f"{prefix}/{entry['path']}")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise PublishError(f"{entry['path']}: checksum differs from the manifest; rebuild the bundle")
        client.put_object(Bucket=bucket, Key=f"{target}/{entry['path']}", Body=data, ContentType=entry["content_type"])
    client.put_object(Bucket=bucket, Key=f"{target}/{MANIFEST}", Body=manifest_bytes, ContentType=content_type(MANIFEST))
    for entry in manifest["files"]:
        _verify(client, bucket, f"{target}/{entry['path']}", entry)

    published_at = datetime.now(UTC).isoformat(timespec="seconds")
    pointer = {"edition": edition.isoformat(), "run": run, "prefix": f"{target}/", "manifest": f"{target}/{MANIFEST}", "published_at": published_at}
    body = json.dumps(pointer, indent=1).encode()
    client.put_object(Bucket=bucket, Key=f"editions/{edition.isoformat()}/current.json", Body=body, ContentType="application/json", CacheControl="no-cache")
    client.put_object(Bucket=bucket, Key=LATEST, Body=body, ContentType="application/json", CacheControl="no-cache")
    return {"bucket": bucket, "prefix": f"{target}/", "files": len(manifest["files"]) + 1}
