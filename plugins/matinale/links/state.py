"""The link state in S3: tokens, link tables and withdrawal markers (written by publish and
staff, read by the service). The layout is documented in :mod:`matinale.links`."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from matinale.links.codes import (
    CODE_ALPHABET,
    OVERVIEW,
    LinkStateError,
    check_destination,
    check_id,
    is_code,
    new_token,
)
from matinale.links.short import STEM_LENGTH
from matinale.publish.s3 import read_pointer
from matinale.s3types import S3Client

__all__ = ["OVERVIEW", "Cell", "LinkState", "Table", "TableLink", "Token"]

TOKENS = "tokens.json"
TABLES = "tables"
WITHDRAWN = "withdrawn"
STEMS = "stems"
STEM_RUNS = "stem-runs"
VERSION = 1

Cell = tuple[str, str, str, str]
"""(segment, theme, channel, angle): what a beacon or a short link counts under."""


@dataclass(frozen=True)
class Token:
    segment: str
    created: str
    rotated_from: str | None = None
    retired: str | None = None


@dataclass(frozen=True)
class TableLink:
    destination: str
    segment: str
    theme: str
    channel: str
    angle: str

    @property
    def cell(self) -> Cell:
        return (self.segment, self.theme, self.channel, self.angle)


@dataclass(frozen=True)
class Table:
    """One run's link table: its codes and the cells its page may report beacons for."""

    edition: str
    run: str
    links: Mapping[str, TableLink]
    cells: frozenset[Cell]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Table:
        links = {code: TableLink(**entry) for code, entry in data.get("links", {}).items()}
        cells = {tuple(c) for c in data.get("cells", [])} | {e.cell for e in links.values()}
        return cls(str(data["edition"]), str(data["run"]), links, frozenset(cells))  # type: ignore[arg-type]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _edition(value: date | str) -> str:
    text = value if isinstance(value, str) else value.isoformat()
    date.fromisoformat(text)  # refuses anything but YYYY-MM-DD
    return text


class LinkState:
    """Reads and writes the link-state prefix of one bucket."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "links/") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix if prefix.endswith("/") else f"{prefix}/"

    # -- keys ---------------------------------------------------------------------------

    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def table_key(self, edition: date | str, run: str) -> str:
        return self.key(TABLES, _edition(edition), f"{run}.json")

    def withdrawn_key(self, edition: date | str) -> str:
        return self.key(WITHDRAWN, f"{_edition(edition)}.json")

    def _put(self, key: str, value: Mapping[str, Any]) -> None:
        body = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            CacheControl="no-cache",
        )

    def list_keys(self, under: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.key(under) + "/"
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def read(self, key: str) -> dict[str, Any] | None:
        return read_pointer(self.client, self.bucket, key)

    # -- tokens -------------------------------------------------------------------------

    def tokens(self) -> dict[str, Token]:
        data = self.read(self.key(TOKENS)) or {}
        return {token: Token(**entry) for token, entry in data.get("tokens", {}).items()}

    def _write_tokens(self, tokens: Mapping[str, Token]) -> None:
        self._put(
            self.key(TOKENS),
            {"version": VERSION, "tokens": {t: vars(v) for t, v in sorted(tokens.items())}},
        )

    @staticmethod
    def active(tokens: Mapping[str, Token]) -> dict[str, str]:
        """segment → its current token."""
        return {v.segment: t for t, v in tokens.items() if v.retired is None}

    def ensure_tokens(self, segments: Iterable[str]) -> dict[str, str]:
        """A token for every segment that has none yet; returns segment → current token.

        Called by publish before it renders anything that links to ``/p/``."""
        tokens = self.tokens()
        active = self.active(tokens)
        missing = [
            s if s == OVERVIEW else check_id("segment", s) for s in segments if s not in active
        ]
        for segment in missing:
            token = new_token()
            tokens[token] = Token(segment=segment, created=_now())
            active[segment] = token
        if missing:
            self._write_tokens(tokens)
        return active

    def rotate(self, segment: str | None = None, *, all_segments: bool = False) -> dict[str, str]:
        """Retire the current token of one segment (or of every segment) and issue a new one.

        The old token keeps answering "lien remplacé"; returns old token → new token."""
        if (segment is None) == (not all_segments):
            raise LinkStateError("rotate one segment or all of them, not both or neither")
        tokens = self.tokens()
        active = self.active(tokens)
        chosen = sorted(active) if all_segments else [segment or ""]
        if not all_segments and segment not in active:
            raise LinkStateError(f"segment {segment!r} has no link token: nothing to rotate")
        moves: dict[str, str] = {}
        now = _now()
        for name in chosen:
            old = active[name]
            new = new_token()
            tokens[old] = Token(**{**vars(tokens[old]), "retired": now})
            tokens[new] = Token(segment=name, created=now, rotated_from=old)
            moves[old] = new
        self._write_tokens(tokens)
        return moves

    # -- link tables --------------------------------------------------------------------

    def register_run(
        self,
        edition: date | str,
        run: str,
        links: Mapping[str, Mapping[str, str]],
        *,
        cells: Iterable[Cell] = (),
        allowed_domains: tuple[str, ...] = (),
    ) -> str:
        """Write one run's link table (before the run is promoted); returns its key.

        ``links``: code → {destination, segment, theme, channel, angle}. A code already
        registered elsewhere for another destination is refused (codes are never reused)."""
        day = _edition(edition)
        entries: dict[str, TableLink] = {}
        for code, entry in links.items():
            if not is_code(code):
                raise LinkStateError(f"code {code!r}: 8 characters of {CODE_ALPHABET}")
            fields = {
                k: check_id(k, entry.get(k)) for k in ("segment", "theme", "channel", "angle")
            }
            destination = check_destination(str(entry.get("destination", "")), allowed_domains)
            entries[code] = TableLink(destination=destination, **fields)
        own = self.table_key(day, run)
        stems = {code[:STEM_LENGTH] for code in entries}
        for stem in sorted(stems):
            holder = self.read(self.key(STEMS, f"{stem}.json")) or {}
            if (holder.get("edition"), holder.get("run")) != (day, run):
                raise LinkStateError(
                    f"code stem {stem} is not reserved for run {run} of {day} "
                    "(prepare reserves it): codes are never reused across runs"
                )
        checked_cells = sorted(
            tuple(
                check_id(k, v)
                for k, v in zip(("segment", "theme", "channel", "angle"), c, strict=True)
            )
            for c in cells
        )
        self._put(
            own,
            {
                "version": VERSION,
                "edition": day,
                "run": run,
                "registered_at": _now(),
                "links": {code: vars(e) for code, e in sorted(entries.items())},
                "cells": checked_cells,
            },
        )
        return own

    # -- code stems ---------------------------------------------------------------------

    def reserve_stem(self, edition: date | str, run: str, *, stem: str | None = None) -> str:
        """The 3-character code stem of one run: the one it already holds, else a free one,
        marked ``stems/<stem>.json`` and ``stem-runs/<edition>/<run>.json`` (see
        :mod:`matinale.links.short`). One read and one listing, no table read: cheap whatever
        the history. ``stem`` asks for a given free one (hand-made links)."""
        day = _edition(edition)
        mine = self.key(STEM_RUNS, day, f"{run}.json")
        held = (self.read(mine) or {}).get("stem")
        if isinstance(held, str):
            return held
        taken = {k.rsplit("/", 1)[-1].removesuffix(".json") for k in self.list_keys(STEMS)}
        free = len(CODE_ALPHABET) ** STEM_LENGTH - len(taken)
        if free <= 0:
            raise LinkStateError("every short-code stem is taken: archive old link tables")
        if stem is not None and (
            stem in taken or len(stem) != STEM_LENGTH or any(c not in CODE_ALPHABET for c in stem)
        ):
            raise LinkStateError(
                f"code stem {stem!r} is taken or not {STEM_LENGTH} code characters"
            )
        while stem is None:
            drawn = "".join(secrets.choice(CODE_ALPHABET) for _ in range(STEM_LENGTH))
            stem = None if drawn in taken else drawn
        key = self.key(STEMS, f"{stem}.json")
        self._put(key, {"edition": day, "run": run, "at": _now()})
        self._put(mine, {"stem": stem})
        # Two runs drawing the same stem at once (max_active_runs is 1, so only by hand):
        # the later write wins and the loser stops here instead of sharing codes.
        if (self.read(key) or {}).get("run") != run:
            raise LinkStateError(f"code stem {stem} was taken meanwhile; retry")
        return stem

    # -- withdrawal ---------------------------------------------------------------------

    def withdraw(self, edition: date | str, *, by: str = "", reason: str = "") -> str:
        """Mark an edition withdrawn: /p/ answers "édition retirée" while it is the newest,
        and its short links stop redirecting. Returns the marker's key."""
        key = self.withdrawn_key(edition)
        self._put(key, {"edition": _edition(edition), "at": _now(), "by": by, "reason": reason})
        return key

    def withdrawn(self) -> set[str]:
        names = (k.rsplit("/", 1)[-1] for k in self.list_keys(WITHDRAWN))
        return {n.removesuffix(".json") for n in names if n.endswith(".json")}
