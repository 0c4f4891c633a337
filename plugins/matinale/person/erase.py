"""Article 17: remove a person from every place ``find_person`` lists, and keep them out.

In this order, so that a failure half-way never leaves the person reachable by the night:

1. the suppression list gets the SHA-256 of every e-mail and phone found and the keyed hash
   of every supporter_id (``id:<HMAC-SHA256>``), in ``inbox/suppression/erasures.txt``:
   tomorrow's export cannot bring them back;
2. plain entries of the person on the suppression list are removed (their digests stay);
3. the work store's private files and the delivery files are rewritten without their rows;
4. the inbox exports last (the quarantine reports are found through their lines).

Then the request is recorded in the work store, ``privacy/requests/<date>-<hash8>.json``:
the keyed hash of the request, the date and counts, no personal data. Running it again is
harmless: what is gone is not found, entries already listed are not added twice.

The key of the hashes (``matinale.privacy.privacy_key``) is generated on first use in the
local setup (``var/privacy/key``, mode 0600) when none is configured.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from datetime import date
from typing import Any

from matinale.person.find import Found, find_person
from matinale.person.holders import InboxExport, SuppressionFile
from matinale.person.identity import PersonQuery
from matinale.person.rewrite import replace_file
from matinale.privacy import ID_ENTRY, keyed_id_hash, privacy_key, privacy_key_file, sha256_hex
from matinale.s3types import S3Client
from matinale.settings import Settings
from matinale.store import Store

__all__ = ["ERASURES_FILE", "REQUESTS_PREFIX", "erase_person", "ensure_privacy_key"]

log = logging.getLogger(__name__)

ERASURES_FILE = "erasures.txt"
REQUESTS_PREFIX = "privacy/requests"
_HEADER = (
    "# Erased on request (matinale person erase): SHA-256 of e-mails and phones, "
    "id: + keyed hash of supporter_ids. Never edit by hand.\n"
)


def ensure_privacy_key() -> bytes:
    """The configured key, else the local one, created (32 random bytes, hex, 0600) if absent."""
    key = privacy_key()
    if key:
        return key
    path = privacy_key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # another process made it meanwhile
    else:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    key = privacy_key()
    assert key, path
    return key


def _suppress(settings: Settings, found: Found, key: bytes) -> int:
    """Add the person's digests to the erasures file; how many lines were new."""
    identity = found.identity
    entries = {sha256_hex(value) for value in identity.emails | identity.phones}
    entries |= {ID_ENTRY + keyed_id_hash(key, value) for value in identity.ids}
    path = settings.inbox / "suppression" / ERASURES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    known = {line.strip() for line in existing.splitlines()}
    new = sorted(entries - known)
    if new:
        text = existing if existing.endswith("\n") else existing + "\n"
        replace_file(path, (text + "".join(f"{entry}\n" for entry in new)).encode("utf-8"))
    return len(new)


def _request_hash(key: bytes, query: PersonQuery) -> str:
    return hmac.new(key, f"{query.kind}:{query.value}".encode(), hashlib.sha256).hexdigest()


def erase_person(
    settings: Settings,
    query: PersonQuery,
    *,
    store: Store,
    client: S3Client | None,
    today: date,
) -> dict[str, Any]:
    """Erase the person everywhere; the request's record (counts only), also returned."""
    key = ensure_privacy_key()
    found = find_person(settings, query, store=store, client=client)
    added = _suppress(settings, found, key)
    places = found.places
    order = sorted(
        places, key=lambda h: (isinstance(h, InboxExport), not isinstance(h, SuppressionFile))
    )
    removed = {"inbox": 0, "suppression_plain": 0, "work_store": 0, "delivery": 0}
    for holding in order:
        count = holding.erase()
        if isinstance(holding, InboxExport):
            removed["inbox"] += count
        elif isinstance(holding, SuppressionFile):
            removed["suppression_plain"] += count
        elif holding.where.startswith(f"s3://{settings.private_bucket}/delivery/"):
            removed["delivery"] += count
        else:
            removed["work_store"] += count
    # A run's PII reference (keyed hashes of its people, and its key) is rebuilt from the
    # rewritten private files when missing: drop every one, so none keeps the person.
    from matinale.night.run import PII_REFERENCE

    references = [k for k in store.list("runs") if k.endswith(f"/{PII_REFERENCE}")]
    for reference in references:
        store.delete_prefix(reference)
    removed["pii_references"] = len(references)
    subject = _request_hash(key, query)
    record = {
        "request": "erasure",
        "date": today.isoformat(),
        "subject": subject,
        "subject_hash": "HMAC-SHA256 of '<email|phone|id>:<normalised value>' with the privacy key",
        "places": len(places),
        "rows_removed": removed,
        "suppression_entries_added": added,
        "identifiers": {
            "ids": len(found.identity.ids),
            "emails": len(found.identity.emails),
            "phones": len(found.identity.phones),
        },
        "not_checked": len(found.unchecked),
    }
    record_key = f"{REQUESTS_PREFIX}/{today.isoformat()}-{subject[:8]}.json"
    store.put_json(record_key, record)
    log.info(
        "Person erased: %d place(s), rows removed %s, %d suppression entr(ies) added; record %s",
        len(places),
        removed,
        added,
        record_key,
    )
    return {**record, "record": record_key, "unchecked": found.unchecked}
