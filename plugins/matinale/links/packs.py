"""Packs served on request: a segment's ``pack.zip`` built from the promoted run's own files.

With a link service, the bundle stores each card once (the manifest says ``packs: served``).
``GET /p/<token>/pack.zip`` gets the segment's pack built here from the run's posts, alt texts
and full-size cards, with the bytes ``bundle.make_pack`` gives a stored pack of the same run.
Each member is checked against the manifest's SHA-256 before it goes in: a changed or missing
object gives no pack (the French "indisponible" page), never a pack the checks did not pass.

Built packs are kept in a cache bounded in bytes: at 7 a.m. a segment's activists all ask
for the same pack, and S3 is read once for them. A run's objects never change once promoted,
so a cached pack stays right for as long as its run is the one served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from matinale.bundle import BundleError, build_pack
from matinale.errors import MatinaleError
from matinale.s3types import S3Client

__all__ = ["PackError", "Packs"]

#: Default cache: about 35 packs of 15 cards (1.8 MB each).
CACHE_BYTES = 64 * 1024 * 1024


class PackError(MatinaleError):
    """A served pack could not be built: a member is missing or not the bytes checked."""


class Packs:
    """Builds served packs from a bundle bucket, keeping the latest in a bounded cache."""

    def __init__(self, client: S3Client, bucket: str, *, cache_bytes: int = CACHE_BYTES) -> None:
        self.client = client
        self.bucket = bucket
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], bytes] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()
        self.built = 0  # packs built from S3 (the rest came from the cache)

    def get(self, prefix: str, members: tuple[tuple[str, str], ...]) -> bytes:
        """The pack of ``members`` (path, sha256) of the run at ``prefix`` (worker thread)."""
        key = (prefix, members)
        with self._lock:
            data = self._cache.get(key)
            if data is not None:
                self._cache.move_to_end(key)
                return data
        try:
            data = build_pack(members, lambda path: self._member(prefix, path))
        except BundleError as exc:
            raise PackError(str(exc)) from None
        with self._lock:
            self.built += 1
            if len(data) <= self.cache_bytes // 4 and key not in self._cache:
                self._cache[key] = data
                self._cached += len(data)
                while self._cached > self.cache_bytes:
                    _, dropped = self._cache.popitem(last=False)
                    self._cached -= len(dropped)
        return data

    def _member(self, prefix: str, path: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data: bytes = self.client.get_object(Bucket=self.bucket, Key=f"{prefix}/{path}")[
                "Body"
            ].read()
        except (BotoCoreError, ClientError) as exc:
            raise PackError(f"{path}: not readable ({type(exc).__name__})") from None
        return data
