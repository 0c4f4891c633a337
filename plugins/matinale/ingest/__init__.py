"""Read the supporter file as it really arrives, and account for every row.

A CRM export or an Excel "save as CSV" comes in UTF-8, UTF-8 with a BOM, UTF-16 or
Windows-1252 (told apart by content, never by name), with ``,``, ``;`` or tab separators,
quoted values holding separators and newlines, Excel's ``'`` in front of codes, trailing
empty columns, or as Parquet. Headers may be French or English (``ALIASES``). Codes
(supporter_id, postal and INSEE codes, phones) always stay text.

Every row read ends in exactly one bucket (quarantined, suppressed, merged or valid), so
``rows_read = valid + quarantined + duplicates_merged + suppressed``; lines made only of
separators are not rows (``blank_rows``).

The stage is ``ingest_supporters``: ``read`` then ``validate``. Modules, in the order a file
goes through them:

- ``schema``: the fields, their header spellings, the age limits, the file-level errors;
- ``sniff``: encoding, separator and header of a text file;
- ``read``: the rows as text columns (CSV or Parquet), with their line numbers;
- ``values``: parsing dates, ages, counts, booleans, interests, postal and INSEE codes;
- ``duplicates``: grouping rows that are one person, and merging each group;
- ``validate``: the checks and the buckets (suppression included);
- ``report``: ``IngestResult``, the quarantine report and its French hints.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from matinale.ingest.read import RawSupporters, read_supporters
from matinale.ingest.report import DEFAULT_MAX_QUARANTINE_SHARE, REASONS, IngestResult
from matinale.ingest.schema import (
    ALIASES,
    BOOLEAN_FIELDS,
    CONSENT_FIELDS,
    COUNT_FIELDS,
    FIELDS,
    MAX_AGE,
    MIN_AGE,
    DuplicateColumnError,
    EmptyFileError,
    IngestError,
    MissingColumnError,
    UnreadableFileError,
    canonical_header,
)
from matinale.ingest.validate import validate_supporters
from matinale.privacy import SuppressionList

__all__ = [
    "ALIASES",
    "BOOLEAN_FIELDS",
    "CONSENT_FIELDS",
    "COUNT_FIELDS",
    "DEFAULT_MAX_QUARANTINE_SHARE",
    "DuplicateColumnError",
    "EmptyFileError",
    "FIELDS",
    "IngestError",
    "IngestResult",
    "MAX_AGE",
    "MIN_AGE",
    "MissingColumnError",
    "REASONS",
    "RawSupporters",
    "UnreadableFileError",
    "canonical_header",
    "ingest_supporters",
    "read_supporters",
    "validate_supporters",
]


def ingest_supporters(
    path: Path, *, reference_date: date, suppression: SuppressionList | None = None
) -> IngestResult:
    """Read, validate, suppress and deduplicate the supporter file at ``path``.

    ``reference_date`` is the day ages are computed on (the edition date in the night).
    Raises a subclass of ``IngestError`` when the file as a whole cannot be used.
    """
    return validate_supporters(
        read_supporters(Path(path)), reference_date=reference_date, suppression=suppression
    )
