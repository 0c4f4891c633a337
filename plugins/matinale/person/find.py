"""Article 15: every place Matinale holds a person, with the fields and dates.

The places: the supporter exports and plain suppression entries in the inbox, every run's
private files in the work store (``runs/<edition>/<run>/private/``: valid rows, features,
contacts, assignments, territories, the quarantine report), and the delivery files in the
private bucket (``delivery/<edition>/<run>/delivery.csv``). Published bundles hold no person
(the PII checks make sure of it) and are not searched.

Rows are the person's when they carry one of their identifiers; identifiers found on those
rows join in until the set stops growing (``Identity``). Values are returned for the
operator's terminal; the log gets counts only.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from matinale.ingest.schema import IngestError
from matinale.person.holders import (
    Blob,
    Holding,
    InboxExport,
    QuarantineReport,
    SuppressionFile,
    TableFile,
)
from matinale.person.identity import Identity, PersonQuery
from matinale.privacy import load_suppression, privacy_key
from matinale.s3types import S3Client
from matinale.settings import Settings
from matinale.store import LocalStore, S3Store, Store

__all__ = ["Found", "find_person", "store_label"]

log = logging.getLogger(__name__)

_RUN_FILE = re.compile(r"^runs/(\d{4}-\d{2}-\d{2})/([^/]+)/private/([^/]+\.(?:parquet|csv))$")
_DELIVERY = re.compile(r"^delivery/(\d{4}-\d{2}-\d{2})/[^/]+/[^/]+\.csv$")
_ROUNDS = 10


@dataclass
class Found:
    """Where the person is, who they turned out to be, and what could not be checked."""

    query: PersonQuery
    identity: Identity
    holdings: list[Holding]
    suppressed: bool
    unchecked: list[str] = field(default_factory=list)

    @property
    def places(self) -> list[Holding]:
        return [h for h in self.holdings if h.matched.any()]

    def to_json(self, *, values: bool = False) -> dict[str, Any]:
        places = []
        for holding in self.places:
            place: dict[str, Any] = {
                "where": holding.where,
                "fields": holding.fields(),
                "date": holding.date,
                "rows": int(holding.matched.sum()),
            }
            if values:
                place["values"] = holding.values()
            places.append(place)
        return {
            "query": self.query.to_json(),
            "places": places,
            "suppressed": self.suppressed,
            "unchecked": self.unchecked,
        }


def store_label(store: Store) -> str:
    if isinstance(store, S3Store):
        return f"s3://{store.bucket}/{store.prefix}".rstrip("/")
    if isinstance(store, LocalStore):
        return str(store.root)
    return repr(store)


def _files(folder: Path, suffixes: set[str]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )


def _inbox(settings: Settings, unchecked: list[str]) -> tuple[list[InboxExport], list[Holding]]:
    exports: list[InboxExport] = []
    for path in _files(settings.inbox / "supporters", {".csv", ".parquet"}):
        try:
            exports.append(InboxExport.load(path, str(path)))
        except IngestError as exc:
            unchecked.append(f"{path}: not readable as a supporter file ({type(exc).__name__})")
    lists: list[Holding] = []
    for path in _files(settings.inbox / "suppression", {".txt", ".csv"}):
        holding = SuppressionFile.load(path, str(path))
        holding.expands = False
        lists.append(holding)
    return exports, lists


def _store_blob(store: Store, key: str) -> Blob:
    return Blob(lambda: store.get_bytes(key), lambda data: store.put_bytes(key, data))


def _work_store(store: Store) -> tuple[list[Holding], list[QuarantineReport]]:
    tables: list[Holding] = []
    reports: list[QuarantineReport] = []
    label = store_label(store)
    for key in store.list("runs"):
        match = _RUN_FILE.match(key)
        if not match:
            continue
        edition, run, name = match.groups()
        where, blob = f"{label}/{key}", _store_blob(store, key)
        if name == "quarantine.csv":
            report = QuarantineReport.load(where, edition, blob)
            inputs = f"runs/{edition}/{run}/inputs.json"
            report.read = store.get_json(inputs) if store.exists(inputs) else {}  # type: ignore[attr-defined]
            report.expands = False
            reports.append(report)  # type: ignore[arg-type]
        else:
            tables.append(TableFile.load(where, edition, blob))
    return tables, reports


def _deliveries(client: S3Client, bucket: str) -> list[Holding]:
    found: list[Holding] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix="delivery/"):
        for item in page.get("Contents", []):
            key = item["Key"]
            match = _DELIVERY.match(key)
            if not match:
                continue

            def read(key: str = key) -> bytes:
                return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())

            def write(data: bytes, key: str = key) -> None:
                client.put_object(
                    Bucket=bucket, Key=key, Body=data, ContentType="text/csv; charset=utf-8"
                )

            found.append(TableFile.load(f"s3://{bucket}/{key}", match.group(1), Blob(read, write)))
    return found


def is_suppressed(settings: Settings, identity: Identity) -> bool:
    """Whether the suppression list holds one of the person's e-mails, phones or ids."""
    # Without the key no id hash can match: a stand-in key keeps the e-mails and phones checked.
    suppression = load_suppression(settings.inbox / "suppression", key=privacy_key() or b"\0")
    emails, phones, ids = sorted(identity.emails), sorted(identity.phones), sorted(identity.ids)
    size = max(len(emails), len(phones), len(ids), 1)

    def column(values: list[str]) -> pa.Array:
        return pa.array(values + [""] * (size - len(values)), pa.string())

    return bool(suppression.matches(column(emails), column(phones), column(ids)).any())


def find_person(
    settings: Settings, query: PersonQuery, *, store: Store, client: S3Client | None
) -> Found:
    """Every file holding the person (``client``: the private bucket's delivery files)."""
    unchecked: list[str] = []
    exports, lists = _inbox(settings, unchecked)
    tables, reports = _work_store(store)
    if client is not None:
        tables += _deliveries(client, settings.private_bucket)
    else:
        unchecked.append(f"s3://{settings.private_bucket}/delivery/: no S3 reachable")
    identity = Identity.of(query)
    expanding: list[Holding] = [*exports, *tables]
    for _ in range(_ROUNDS):
        before = identity.size()
        for holding in expanding:
            identity.absorb(holding.match(identity), holding.ids, holding.emails, holding.phones)
        if identity.size() == before:
            break
    for holding in lists:
        holding.match(identity)
    by_name = {export.path.name: export for export in exports}
    for report in reports:
        unread = report.locate(by_name)
        unchecked.extend(f"{report.where}: lines of {name} (changed since)" for name in unread)
    found = Found(
        query,
        identity,
        [*exports, *lists, *tables, *reports],
        is_suppressed(settings, identity),
        unchecked,
    )
    log.info(
        "Person search: %d place(s), %d row(s), %d place(s) not checked",
        len(found.places),
        sum(int(h.matched.sum()) for h in found.places),
        len(unchecked),
    )
    return found
