"""Uploading a run's objects with their SHA-256, then proving they are the manifest's
bytes (one listing of sizes and ETags; a read-back where the server did not confirm)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from matinale.publish.s3 import PublishError
from matinale.s3types import S3Client

__all__ = ["RunUpload"]

_RUN_CACHE = "private, max-age=86400"  # a run's objects never change once promoted
_WORKERS = 8


def _parallel(
    items: list[Any],
    work: Callable[[Any], None],
    progress: Callable[[str, int, int], None] | None,
    step: str,
) -> None:
    total = len(items)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                future.result()
                if progress:
                    progress(step, done, total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


class RunUpload:
    """The objects of one run (under ``target``): uploaded with their checksums, then verified.

    Remembers the ETag each upload answered and the entries whose checksum the server did
    not confirm, for the verification.
    """

    def __init__(self, client: S3Client, bucket: str, target: str) -> None:
        self.client = client
        self.bucket = bucket
        self.target = target
        self.etags: dict[str, str] = {}
        self.unconfirmed: list[dict[str, Any]] = []

    def upload(
        self,
        entries: list[dict[str, Any]],
        bodies: Mapping[str, bytes],
        progress: Callable[[str, int, int], None] | None,
    ) -> None:
        """Upload the entries in parallel. The manifest goes up alone and last: a run
        without its manifest is never served."""
        _parallel(entries, lambda entry: self._put(entry, bodies), progress, "upload")

    def _put(self, entry: dict[str, Any], bodies: Mapping[str, bytes]) -> None:
        # The server checks the body against the manifest's SHA-256 and refuses it otherwise
        # (BadDigest); its answer echoes the checksum it verified.
        checksum = base64.b64encode(bytes.fromhex(entry["sha256"])).decode("ascii")
        response = self.client.put_object(
            Bucket=self.bucket,
            Key=f"{self.target}/{entry['path']}",
            Body=bodies[entry["path"]],
            ContentType=entry["content_type"],
            CacheControl=_RUN_CACHE,
            ChecksumSHA256=checksum,
        )
        self.etags[entry["path"]] = str(response.get("ETag", ""))
        if response.get("ChecksumSHA256") != checksum:
            self.unconfirmed.append(entry)  # a server that does not verify checksums: read it back

    def verify(
        self, entries: list[dict[str, Any]], progress: Callable[[str, int, int], None] | None
    ) -> None:
        """Every uploaded object is there as its upload answered; those whose checksum was
        not confirmed are read back and compared with the manifest."""
        self._verify_listing(entries, progress)
        _parallel(self.unconfirmed, self._read_back, None, "verify")

    def _verify_listing(
        self, entries: list[dict[str, Any]], progress: Callable[[str, int, int], None] | None
    ) -> None:
        """Every object of the run is there, with its size and the ETag its upload answered.

        One listing (a thousand objects a request) instead of one request per object: together
        with the checksum the server verified on each upload, it proves the run's objects are
        the manifest's bytes when the pointers move (nothing missing, cut short or overwritten).
        """
        bucket, target, etags = self.bucket, self.target, self.etags
        listed: dict[str, tuple[int, str]] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{target}/"
        ):
            for item in page.get("Contents", []):
                listed[item["Key"][len(target) + 1 :]] = (
                    int(item["Size"]),
                    str(item.get("ETag", "")),
                )
        total = len(entries)
        for done, entry in enumerate(entries, start=1):
            size, etag = listed.get(entry["path"], (None, ""))
            if size is None:
                raise PublishError(
                    f"s3://{bucket}/{target}/{entry['path']}: missing after its upload; nothing promoted, rerun"
                )
            if size != entry["bytes"] or etag != etags.get(entry["path"]):
                raise PublishError(
                    f"s3://{bucket}/{target}/{entry['path']}: the server lists {size} bytes (ETag {etag}) that do not match the upload ({entry['bytes']} bytes, ETag {etags.get(entry['path'])}); nothing promoted, rerun"
                )
            if progress:
                progress("verify", done, total)

    def _read_back(self, entry: dict[str, Any]) -> None:
        bucket, target = self.bucket, self.target
        body = self.client.get_object(Bucket=bucket, Key=f"{target}/{entry['path']}")["Body"].read()
        if len(body) != entry["bytes"] or hashlib.sha256(body).hexdigest() != entry["sha256"]:
            raise PublishError(
                f"s3://{bucket}/{target}/{entry['path']}: read back {len(body)} bytes that do not match the manifest ({entry['bytes']} bytes); nothing promoted, rerun"
            )
