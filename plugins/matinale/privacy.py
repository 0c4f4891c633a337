"""Privacy rules that every stage stands on (GDPR/CNIL: political opinion is sensitive).

- Only adults are segmented and messaged; minors are counted, never used.
- Segmentation sees only allowed features; contact details never leave the private store.
- Reports and logs get counts or masked values, never a person: ``mask_cell`` masks a value
  for a report, ``neutralise_formula`` keeps a report cell from running as a spreadsheet
  formula.
- People who objected are on the suppression list (``inbox/suppression/``): one e-mail or
  phone per line, plain or as the lowercase hex SHA-256 of the normalised value (trimmed
  lowercase e-mail, E.164 phone). ``load_suppression`` reads it, ``SuppressionList.matches``
  finds them; only counts are ever recorded.
- A person erased on request (``matinale person erase``) is also on it by a keyed hash of
  their supporter_id, ``id:<HMAC-SHA256 hex>``: ids are short and guessable, so a plain
  digest would name them. The key (``privacy_key``) comes from ``MATINALE_PRIVACY_KEY``, the
  Airflow connection ``matinale_privacy`` in the environment (its password), or the 0600 file
  ``$MATINALE_VAR/privacy/key`` (``MATINALE_PRIVACY_KEY_FILE``), never from code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matinale.contacts import CONSENT_FIELDS, normalise_phones
from matinale.errors import MatinaleError

__all__ = [
    "ADULT_AGE",
    "CONTACT_FIELDS",
    "ID_ENTRY",
    "PRIVACY_KEY_ENV",
    "PERSONAL_FIELDS",
    "PrivacySplit",
    "SuppressionError",
    "SPLIT_COLUMNS",
    "SuppressionList",
    "compliance_counts",
    "load_suppression",
    "mask_cell",
    "mask_email",
    "mask_phone",
    "mask_value",
    "neutralise_formula",
    "sha256_hex",
    "keyed_id_hash",
    "privacy_key",
    "privacy_key_file",
    "split_for_segmentation",
]

ADULT_AGE = 18
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")
#: Fields whose values identify a person: always masked in reports.
PERSONAL_FIELDS = ("supporter_id", "first_name", "last_name", "email", "phone", "birth_date")
#: Consent kind (email, sms, whatsapp, social) → its column, as the compliance counts name them.
CONSENT_CHANNELS = {column.removeprefix("consent_"): column for column in CONSENT_FIELDS}
#: Features a segmentation may use (anything else is refused by segment definitions).
SEGMENTATION_FEATURES = (
    "age",
    "interests",
    "events_attended",
    "shares_30d",
    "donor",
    "volunteer",
    "insee_com",
    "postal_code",
)
# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection");
# tab and carriage return can hide such a start.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
#: A suppression entry naming a supporter_id by its keyed hash: ``id:`` + 64 hex digits.
ID_ENTRY = "id:"
PRIVACY_KEY_ENV = "MATINALE_PRIVACY_KEY"
_PRIVACY_KEY_FILE_ENV = "MATINALE_PRIVACY_KEY_FILE"
_PRIVACY_CONN_ENV = "AIRFLOW_CONN_MATINALE_PRIVACY"
# A value with this many digits may be a phone number or a date of birth, whatever its column.
_MANY_DIGITS = 6
_SHOWN_LENGTH = 24


def mask_email(value: str) -> str:
    """``jeanne.martin@example.org`` → ``j***@e***.org``."""
    local, _, domain = value.strip().rpartition("@")
    if not local:
        return mask_value(value)
    host, _, tld = domain.rpartition(".")
    if not host or not tld.isalpha() or len(tld) > 10:
        return f"{local[:1]}***@{domain[:1]}***"
    return f"{local[:1]}***@{host[:1]}***.{tld}"


_ASCII_DIGITS = "0123456789"
_ASCII_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Hides digits and letters (before the last two digits) or letters only (from them on).
_HIDE_ALL = str.maketrans(dict.fromkeys(_ASCII_DIGITS + _ASCII_LETTERS, "*"))
_HIDE_LETTERS = str.maketrans(dict.fromkeys(_ASCII_LETTERS, "*"))
_DROP_DIGITS = str.maketrans(dict.fromkeys(_ASCII_DIGITS))


def mask_phone(value: str) -> str:
    """Every digit but the last two hidden: ``06 12 34 56 78`` → ``** ** ** ** 78``.

    Letters are hidden too; other characters keep the number's shape. ASCII text (nearly
    every number) is masked by two translations around the second-to-last digit, other
    text character by character (``str.isdigit`` and ``str.isalpha`` are Unicode-wide)."""
    text = value.strip()
    if text.isascii():
        if len(text) - len(text.translate(_DROP_DIGITS)) < 4:
            return mask_value(text)
        cut, kept = len(text), 0
        while kept < 2:  # from the end to the second-to-last digit (numbers end in digits)
            cut -= 1
            kept += text[cut] in _ASCII_DIGITS
        return text[:cut].translate(_HIDE_ALL) + text[cut:].translate(_HIDE_LETTERS)
    return _mask_phone_by_character(text)


def _mask_phone_by_character(text: str) -> str:
    """``mask_phone`` of stripped text, one character at a time (any script's digits)."""
    if sum(ch.isdigit() for ch in text) < 4:
        return mask_value(text)
    kept, out = 0, []
    for ch in reversed(text):
        if ch.isdigit():
            out.append(ch if kept < 2 else "*")
            kept += 1
        else:
            out.append("*" if ch.isalpha() else ch)
    return "".join(reversed(out))


def mask_value(value: str) -> str:
    """Keep the first and last characters of a short code, hide the rest."""
    text = str(value)
    if len(text) <= 2:
        return "*" * len(text)
    return f"{text[0]}{'*' * min(len(text) - 2, 6)}{text[-1]}"


def neutralise_formula(text: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would run as a formula (= + - @ tab CR)."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def mask_cell(field_name: str, value: str) -> str:
    """A supporter-file value as a report may show it: personal data masked, formula-safe.

    Personal fields are always masked. Other fields show their value unless it looks like
    an address or a number long enough to be a phone or a birth date (columns do get
    shifted), and long text is cut.
    """
    text = str(value).strip()
    if not text:
        return ""
    if field_name == "email" or "@" in text:
        shown = mask_email(text)
    elif field_name == "phone":
        shown = mask_phone(text)
    elif field_name in PERSONAL_FIELDS or sum(ch.isdigit() for ch in text) >= _MANY_DIGITS:
        shown = mask_value(text)
    elif len(text) > _SHOWN_LENGTH:
        shown = text[:_SHOWN_LENGTH] + "…"
    else:
        shown = text
    return neutralise_formula(shown)


def sha256_hex(value: str) -> str:
    """The lowercase hex SHA-256 of a normalised value, as the suppression list stores it."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def privacy_key_file() -> Path:
    """Where the local setup keeps the privacy key: ``MATINALE_PRIVACY_KEY_FILE``, else
    ``$MATINALE_VAR/privacy/key`` (``var/`` of the project by default)."""
    given = os.environ.get(_PRIVACY_KEY_FILE_ENV, "").strip()
    if given:
        return Path(given)
    var = os.environ.get("MATINALE_VAR", "").strip()
    if var:
        return Path(var) / "privacy" / "key"
    from matinale.settings import project_home

    return project_home() / "var" / "privacy" / "key"


def privacy_key() -> bytes | None:
    """The secret of the keyed id hashes, or None when none is configured.

    In order: ``MATINALE_PRIVACY_KEY``; the password of the Airflow connection
    ``matinale_privacy`` given as JSON in ``AIRFLOW_CONN_MATINALE_PRIVACY``; the key file
    (``privacy_key_file``). Never logged.
    """
    value = os.environ.get(PRIVACY_KEY_ENV, "").strip()
    if not value:
        raw = os.environ.get(_PRIVACY_CONN_ENV, "").strip()
        if raw.startswith("{"):
            value = str(json.loads(raw).get("password") or "").strip()
    if not value:
        try:
            path = privacy_key_file()
        except MatinaleError:  # no project to find var/ in: no local key either
            return None
        if path.is_file():
            value = path.read_text(encoding="utf-8").strip()
    return value.encode("utf-8") if value else None


def keyed_id_hash(key: bytes, supporter_id: str) -> str:
    """HMAC-SHA256 (hex) of a supporter_id as ingest reads it (trimmed, no Excel ``'``)."""
    cleaned = re.sub(r"^'\s*", "", supporter_id.strip())
    return hmac.new(key, cleaned.encode("utf-8"), hashlib.sha256).hexdigest()


class SuppressionError(MatinaleError, ValueError):
    """The suppression list cannot be read entirely: the night stops rather than risk
    contacting someone who objected."""


@dataclass(frozen=True)
class SuppressionList:
    """People who objected: normalised plain entries and SHA-256 digests, never logged."""

    plain: frozenset[str] = frozenset()
    digests: frozenset[bytes] = frozenset()
    files: tuple[str, ...] = ()
    entries: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    #: Keyed hashes (HMAC-SHA256) of supporter_ids, and their key (never shown).
    id_digests: frozenset[bytes] = frozenset()
    key: bytes = field(default=b"", repr=False)

    def __len__(self) -> int:
        return self.entries

    def matches(
        self, emails: pa.Array, phones: pa.Array, ids: pa.Array | None = None
    ) -> np.ndarray:
        """Which rows have a normalised e-mail or phone on the list ("" never matches), or,
        when ``ids`` (cleaned supporter_ids) are given, an id whose keyed hash is on it."""
        size = len(emails)
        found = np.zeros(size, dtype=bool)
        if not self.entries:
            return found
        for column in (emails, phones):
            if self.plain:
                hit = pc.is_in(column, value_set=pa.array(sorted(self.plain), pa.string()))
                found |= np.asarray(
                    pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool
                )
            if self.digests:
                found |= self._digest_hits(column)
        if ids is not None and self.id_digests:
            key, digests, new = self.key, self.id_digests, hmac.new
            values = pc.fill_null(ids, "").cast(pa.binary()).to_pylist()
            found |= np.fromiter(
                (bool(v) and new(key, v, hashlib.sha256).digest() in digests for v in values),
                dtype=bool,
                count=len(values),
            )
        return found

    def _digest_hits(self, column: pa.Array) -> np.ndarray:
        # SHA-256 has no vectorised form here: one C call per filled cell, on the bytes
        # Arrow already holds.
        length = pc.binary_length(column).to_numpy(zero_copy_only=False)
        filled = np.flatnonzero(np.nan_to_num(length) > 0)
        hits = np.zeros(len(column), dtype=bool)
        if filled.size:
            values = column if filled.size == len(column) else column.take(pa.array(filled))
            sha256, digests = hashlib.sha256, self.digests
            hits[filled] = [
                sha256(value).digest() in digests for value in values.cast(pa.binary()).to_pylist()
            ]
        return hits


def _suppression_files(source: Path) -> list[Path]:
    if source.is_dir():
        return sorted(
            p
            for p in source.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in {".txt", ".csv"}
        )
    if source.is_file():
        return [source]
    return []


def _read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding).splitlines()
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1").splitlines()  # pragma: no cover - latin-1 decodes anything


def load_suppression(
    sources: Path | Iterable[Path] | None, *, key: bytes | None = None
) -> SuppressionList:
    """Read suppression files (a folder's ``*.txt``/``*.csv``, or files).

    One entry per line: an e-mail, a phone (any common French or international spelling), a
    64-character hex SHA-256 of the normalised value, or ``id:`` and the keyed hash of a
    supporter_id (``keyed_id_hash``; ``key``, else ``privacy_key()``, must be known then).
    Blank lines and lines starting with ``#`` are ignored. A missing folder is an empty
    list. A line that is none of these raises ``SuppressionError`` naming the file and line
    (never the value).
    """
    if sources is None:
        return SuppressionList()
    paths: list[Path] = []
    for source in [sources] if isinstance(sources, Path | str) else sources:
        paths.extend(_suppression_files(Path(source)))
    digests: set[bytes] = set()
    id_digests: set[bytes] = set()
    emails: list[tuple[str, int, str]] = []
    phones: list[tuple[str, int, str]] = []
    for path in paths:
        try:
            lines = _read_lines(path)
        except OSError as exc:
            raise SuppressionError(
                f"{path}: cannot read the suppression file ({exc.strerror}); fix its permissions or remove it"
            ) from exc
        for number, line in enumerate(lines, start=1):
            entry = line.strip().strip('"').strip()
            if not entry or entry.startswith("#"):
                continue
            if entry.lower().startswith(ID_ENTRY) and _SHA256_HEX.match(entry[len(ID_ENTRY) :]):
                id_digests.add(bytes.fromhex(entry[len(ID_ENTRY) :]))
            elif _SHA256_HEX.match(entry):
                digests.add(bytes.fromhex(entry))
            elif "@" in entry:
                emails.append((path.name, number, entry))
            else:
                phones.append((path.name, number, entry))
    # An e-mail entry is matched as written (trimmed, lowercased), even one ingest would
    # reject: refusing the list for it would stop the night over a valid objection.
    plain = {value.lower().removeprefix("mailto:") for _, _, value in emails}
    if phones:
        result = normalise_phones(pa.array([value for _, _, value in phones], pa.string()))
        bad = np.flatnonzero(~result.ok)
        if bad.size:
            name, number, _ = phones[int(bad[0])]
            raise SuppressionError(
                f"suppression list {name}, line {number}: not a readable phone number "
                f"({bad.size} such line(s) in all); write one e-mail, phone (e.g. +33612345678) "
                "or SHA-256 per line, then rerun"
            )
        plain.update(v for v in result.values.to_pylist() if v)
    counts = {"hashed": len(digests), "emails": len(emails), "phones": len(phones)}
    if id_digests:
        counts["ids"] = len(id_digests)
        key = key or privacy_key()
        if not key:
            raise SuppressionError(
                f"the suppression list holds {len(id_digests)} keyed id hash(es) but no privacy key "
                f"is configured: set {PRIVACY_KEY_ENV} (or the file {_PRIVACY_KEY_FILE_ENV} names) "
                "to the key `matinale person erase` used, then rerun"
            )
    return SuppressionList(
        plain=frozenset(plain),
        digests=frozenset(digests),
        files=tuple(p.name for p in paths),
        entries=len(digests) + len(plain) + len(id_digests),
        counts=counts,
        id_digests=frozenset(id_digests),
        key=key or b"",
    )


@dataclass
class PrivacySplit:
    """What segmentation may see, what stays private, and who was left out."""

    features: pd.DataFrame
    contacts: pd.DataFrame
    minors: int


#: The columns of the valid supporters that ``split_for_segmentation`` and
#: ``compliance_counts`` read (the privacy stage loads only these).
SPLIT_COLUMNS = tuple(
    dict.fromkeys(
        (
            "supporter_id",
            *SEGMENTATION_FEATURES,
            *CONTACT_FIELDS,
            *CONSENT_CHANNELS.values(),
            "legal_basis",
        )
    )
)


def split_for_segmentation(valid: pd.DataFrame) -> PrivacySplit:
    """Adults' allowed features for segmentation; contacts kept apart for the delivery file."""
    adults = valid["age"] >= ADULT_AGE
    columns = ["supporter_id", *[c for c in SEGMENTATION_FEATURES if c in valid.columns]]
    contacts = valid.loc[
        adults, ["supporter_id", *CONTACT_FIELDS, *CONSENT_CHANNELS.values(), "legal_basis"]
    ]
    return PrivacySplit(
        features=valid.loc[adults, columns].reset_index(drop=True),
        contacts=contacts.reset_index(drop=True),
        minors=int((~adults).sum()),
    )


def compliance_counts(valid: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Consents per channel, per legal basis, and per legal basis × channel: counts only."""
    channels = {name: column for name, column in CONSENT_CHANNELS.items() if column in valid}
    basis_names = valid["legal_basis"].astype("str").replace("", "non renseignée")
    codes, names = pd.factorize(basis_names, sort=True)
    sizes = np.bincount(codes, minlength=len(names))
    crossed: dict[str, dict[str, int]] = {str(name): {} for name in names}
    by_channel: dict[str, int] = {}
    for channel, column in channels.items():
        consented = valid[column].to_numpy(dtype=bool)
        by_channel[channel] = int(consented.sum())
        per_basis = np.bincount(codes, weights=consented, minlength=len(names))
        for name, count in zip(names, per_basis, strict=True):
            crossed[str(name)][channel] = int(count)
    return {
        "consent_by_channel": by_channel,
        "legal_basis": {str(name): int(size) for name, size in zip(names, sizes, strict=True)},
        "consent_by_legal_basis": crossed,
    }
