"""Who a request is about, and which rows of a file are that person.

A request names one e-mail, phone or supporter_id. They are normalised exactly as ingest
does (``matinale.contacts``; ids trimmed, Excel's ``'`` removed), so a row matches here
exactly when the night would read it as that person. Rows are matched on any of the
person's identifiers; the identifiers of matching rows join the set until it stops growing
(``Identity.absorb``), as ingest merges rows sharing an id, e-mail or phone into one person.
Nothing here logs a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from matinale.contacts import normalise_emails, normalise_phones
from matinale.errors import MatinaleError
from matinale.ingest.values import _clean

__all__ = [
    "Identity",
    "PersonError",
    "PersonQuery",
    "clean_ids",
    "match_rows",
    "normal_emails",
    "normal_phones",
    "record_matches",
    "text_array",
]


class PersonError(MatinaleError, ValueError):
    """A rights request cannot be carried out as asked; the message says what to do."""


@dataclass(frozen=True)
class PersonQuery:
    """The one identifier a request gives, normalised as ingest normalises it."""

    kind: str  # "email", "phone" or "id"
    value: str

    @classmethod
    def of(cls, *, email: str | None, phone: str | None, supporter_id: str | None) -> PersonQuery:
        given = [(k, v) for k, v in (("email", email), ("phone", phone), ("id", supporter_id)) if v]
        if len(given) != 1:
            raise PersonError("give exactly one of --email, --phone or --id")
        kind, value = given[0]
        if kind == "email":
            normalised = normalise_emails(pa.array([value], pa.string())).values[0].as_py()
            # An address ingest rejects is still looked for as written (trimmed, lowercased).
            found = normalised or value.strip().lower().removeprefix("mailto:")
        elif kind == "phone":
            found = normalise_phones(pa.array([value], pa.string())).values[0].as_py()
            if not found:
                raise PersonError(
                    "--phone is not a readable phone number: write it as 06 12 34 56 78 or +33612345678"
                )
        else:
            found = clean_ids(pa.array([value], pa.string()))[0].as_py()
        if not found:
            raise PersonError(f"--{kind} is empty")
        return cls(kind, found)

    def to_json(self) -> dict[str, str]:
        return {self.kind: self.value}


@dataclass
class Identity:
    """Every id, e-mail and phone known to be this person."""

    ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, query: PersonQuery) -> Identity:
        identity = cls()
        {"id": identity.ids, "email": identity.emails, "phone": identity.phones}[query.kind].add(
            query.value
        )
        return identity

    def size(self) -> int:
        return len(self.ids) + len(self.emails) + len(self.phones)

    def absorb(
        self,
        rows: np.ndarray,
        ids: pa.Array | None,
        emails: pa.Array | None,
        phones: pa.Array | None,
    ) -> None:
        """Add the identifiers the matched ``rows`` carry ("" is no identifier)."""
        if not rows.any():
            return
        where = pa.array(np.flatnonzero(rows))
        for column, known in ((ids, self.ids), (emails, self.emails), (phones, self.phones)):
            if column is not None:
                known.update(v for v in column.take(where).to_pylist() if v)


def text_array(values: object) -> pa.Array:
    """A column (pandas, Arrow, list) as Arrow text, missing values as ""."""
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_string(array.type):
        array = pc.cast(array, pa.string())
    return pc.fill_null(array, "")


def clean_ids(values: pa.Array) -> pa.Array:
    """supporter_ids as ingest reads them."""
    return _clean(text_array(values))


def normal_emails(values: pa.Array) -> pa.Array:
    """Addresses as ingest normalises them; ones it rejects as written (trimmed, lowercased)."""
    values = text_array(values)
    result = normalise_emails(values)
    loose = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    return pc.if_else(pa.array(result.ok), result.values, loose)


def normal_phones(values: pa.Array) -> pa.Array:
    """E.164 as ingest normalises phones ("" where unreadable)."""
    return normalise_phones(text_array(values)).values


def _in(column: pa.Array | None, known: set[str]) -> np.ndarray | None:
    if column is None or not known:
        return None
    hit = pc.is_in(column, value_set=pa.array(sorted(known), pa.string()))
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)


def match_rows(
    identity: Identity,
    ids: pa.Array | None,
    emails: pa.Array | None,
    phones: pa.Array | None,
    size: int,
) -> np.ndarray:
    """Which rows carry one of the person's identifiers (columns already normalised)."""
    found = np.zeros(size, dtype=bool)
    for column, known in (
        (ids, identity.ids),
        (emails, identity.emails),
        (phones, identity.phones),
    ):
        hits = _in(column, known)
        if hits is not None:
            found |= hits
    return found


def record_matches(identity: Identity, fields: list[str], *, ids: bool = True) -> bool:
    """Whether any field of a raw record is one of the person's identifiers (ids only if ``ids``)."""
    cells = pa.array(fields, pa.string())
    found = match_rows(
        identity if ids else Identity(set(), identity.emails, identity.phones),
        clean_ids(cells),
        normal_emails(cells),
        normal_phones(cells),
        len(fields),
    )
    return bool(found.any())
