"""What the service knows, kept in memory and refreshed from S3 in the background: the
promoted run (``latest.json``, re-read every ``pointer_seconds``), its manifest's page keys
and served packs,
the tokens, the link tables and the withdrawal markers (every ``state_seconds``), and the
presigned URLs (cached per run and file for ``url_seconds``).

Requests never wait for S3: they read this snapshot. When S3 cannot be read, the last
snapshot keeps being served and the failure is logged (its type only).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from matinale.bundle import MANIFEST, served_pack_members
from matinale.links.codes import is_code, is_token
from matinale.links.state import OVERVIEW, TABLES, Cell, LinkState, Table, TableLink, Token
from matinale.publish.pointers import LATEST
from matinale.publish.presign import Presigner
from matinale.publish.s3 import read_pointer
from matinale.s3types import S3Client

__all__ = ["Outcome", "Resolver"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a /p/ or /s/ request gets: a redirect (``url``) or one of the French pages."""

    kind: str  # "redirect", "pack", "unknown", "replaced", "not_published", "withdrawn"
    url: str = ""
    edition: str = ""
    segment: str = ""
    cell: tuple[str, str, str] = ("", "", "")
    #: kind "pack": the run's prefix and the pack's members (path, sha256), to build it.
    prefix: str = ""
    members: tuple[tuple[str, str], ...] = ()


UNKNOWN = Outcome("unknown")


class Resolver:
    def __init__(
        self,
        client: S3Client,
        bundle_bucket: str,
        state: LinkState,
        *,
        page_minutes: int = 10,
        public_url: str | None = None,
        url_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.bundle_bucket = bundle_bucket
        self.state = state
        self.page_expiry = timedelta(minutes=page_minutes)
        self.public_url = public_url
        self.url_seconds = url_seconds
        self.clock = clock
        self.latest: dict[str, Any] | None = None
        self.pages: dict[str, str] = {}  # segment → page path in the promoted run
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, tuple[str, TableLink]] = {}  # code → (edition, link)
        self.cells: dict[str, frozenset[Cell]] = {}  # edition → cells beacons may name
        self.withdrawn: set[str] = set()
        self._tables: dict[str, Table] = {}
        self._manifests: dict[str, dict[str, str]] = {}
        self._files: dict[str, frozenset[str]] = {}  # run prefix → its manifest's file paths
        self.files: frozenset[str] = frozenset()  # the promoted run's
        self._packs: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {}
        self.packs: dict[str, tuple[tuple[str, str], ...]] = {}  # served pack → members
        self._presigners: dict[str, Presigner] = {}
        self._urls: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()  # refreshes run in worker threads, one at a time

    # -- refreshing (worker threads) ----------------------------------------------------

    def refresh_pointer(self) -> None:
        """Re-read latest.json, and the manifest of a run not seen before."""
        with self._lock:
            latest = read_pointer(self.client, self.bundle_bucket, LATEST)
            pages: dict[str, str] = {}
            if latest is not None:
                prefix = str(latest["prefix"]).rstrip("/")
                if prefix not in self._manifests:
                    manifest = read_pointer(self.client, self.bundle_bucket, f"{prefix}/{MANIFEST}")
                    if manifest is None:  # promoted without a manifest: serve nothing from it
                        return
                    self._manifests[prefix] = {
                        str(s["id"]): str(s["page"]) for s in manifest.get("segments", [])
                    }
                    # The overview is the run's root page; its own files sit beside it.
                    self._manifests[prefix][OVERVIEW] = "index.html"
                    self._files[prefix] = frozenset(
                        str(f["path"]) for f in manifest.get("files", []) if "path" in f
                    )
                    self._packs[prefix] = served_pack_members(manifest)
                pages = self._manifests[prefix]
            self.latest, self.pages = latest, pages
            self.files = self._files.get(prefix, frozenset()) if latest is not None else frozenset()
            self.packs = self._packs.get(prefix, {}) if latest is not None else {}

    def refresh_state(self) -> None:
        """Re-read the tokens, the withdrawal markers and the link tables not seen before
        (a table is written once, before its run is promoted)."""
        with self._lock:
            tokens = self.state.tokens()
            withdrawn = self.state.withdrawn()
            keys = self.state.list_keys(TABLES)
            fresh = [k for k in keys if k not in self._tables]
            for key in fresh:
                data = self.state.read(key)
                if data is not None:
                    self._tables[key] = Table.from_json(data)
            if fresh:
                codes: dict[str, tuple[str, TableLink]] = {}
                cells: dict[str, set[Cell]] = {}
                for table in self._tables.values():
                    codes.update((c, (table.edition, link)) for c, link in table.links.items())
                    cells.setdefault(table.edition, set()).update(table.cells)
                self.codes = codes
                self.cells = {e: frozenset(c) for e, c in cells.items()}
            self.tokens, self.withdrawn = tokens, withdrawn

    # -- answering (event loop; memory only, presigning aside) --------------------------

    def page(self, token: str) -> Outcome:
        return self._follow(token, None)

    def page_file(self, token: str, path: str) -> Outcome:
        """A file of the token's segment folder in the promoted run (its cards, its pack),
        or for the overview's token a file beside the overview: only paths the run's
        manifest lists, never ``..`` or another segment's files."""
        return self._follow(token, path)

    def _follow(self, token: str, file: str | None) -> Outcome:
        entry = self.tokens.get(token) if is_token(token) else None
        if entry is None:
            return UNKNOWN
        if entry.retired is not None:
            return Outcome("replaced", segment=entry.segment)
        latest = self.latest
        if latest is None:
            return Outcome("not_published", segment=entry.segment)
        edition = str(latest["edition"])
        if edition in self.withdrawn:
            return Outcome("withdrawn", edition=edition, segment=entry.segment)
        path = self.pages.get(entry.segment)
        if path is None:
            return Outcome("not_published", edition=edition, segment=entry.segment)
        if file is not None:
            folder = "" if entry.segment == OVERVIEW else f"{entry.segment}/"
            path = f"{folder}{file}"
            if (
                not file
                or file.startswith("/")
                or ".." in file.split("/")
                or (not folder and "/" in file)
                or (path not in self.files and path not in self.packs)
            ):
                return UNKNOWN
            members = self.packs.get(path)
            if members is not None:  # built by the service from the run's files
                prefix = str(latest["prefix"]).rstrip("/")
                return Outcome(
                    "pack", edition=edition, segment=entry.segment, prefix=prefix, members=members
                )
        url = self._url(str(latest["prefix"]).rstrip("/"), path)
        return Outcome("redirect", url, edition, entry.segment)

    def short(self, code: str) -> Outcome:
        found = self.codes.get(code) if is_code(code) else None
        if found is None:
            return UNKNOWN
        edition, link = found
        cell = (link.theme, link.channel, link.angle)
        if edition in self.withdrawn:
            return Outcome("withdrawn", edition=edition, segment=link.segment, cell=cell)
        return Outcome("redirect", link.destination, edition, link.segment, cell)

    def _url(self, prefix: str, path: str) -> str:
        now = self.clock()
        cached = self._urls.get((prefix, path))
        if cached is not None and now - cached[0] < self.url_seconds:
            return cached[1]
        presigner = self._presigners.get(prefix)
        if presigner is None:
            presigner = Presigner(
                self.client,
                self.bundle_bucket,
                prefix,
                self.page_expiry,
                public_url=self.public_url,
            )
            self._presigners[prefix] = presigner
        url = presigner(path)
        if len(self._urls) > 10_000:  # runs come and go: never grow without bound
            self._urls.clear()
        self._urls[(prefix, path)] = (now, url)
        return url
