"""The files that may hold a person, each able to say which rows are theirs and to drop them.

- ``InboxExport``: a supporter export in the inbox (CSV or Parquet), read by the ingest
  reader so encodings, separators and header aliases are the night's; rewritten byte for
  byte minus the person's records (CSV) or minus their rows (Parquet);
- ``TableFile``: a CSV or Parquet file with ``supporter_id`` / ``email`` / ``phone`` /
  ``address`` columns: the work store's private files, the delivery files;
- ``QuarantineReport``: a run's quarantine report, whose rows name a line of the export the
  run read; they are the person's when that export is unchanged and the line is theirs;
- ``SuppressionFile``: plain e-mails and phones on the suppression list (replaced by their
  digests on erase).

Where each file lives is a ``Blob`` (read and write bytes): a file on disk (replaced
atomically), a work-store key or an S3 object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from matinale.ingest.read import RawSupporters, read_supporters
from matinale.person.identity import (
    Identity,
    PersonError,
    clean_ids,
    match_rows,
    normal_emails,
    normal_phones,
    record_matches,
    text_array,
)
from matinale.person.rewrite import CsvLines, parquet_without, replace_file

__all__ = ["Blob", "Holding", "InboxExport", "QuarantineReport", "SuppressionFile", "TableFile"]


@dataclass
class Blob:
    """Bytes somewhere: how to read them and how to replace them."""

    read: Callable[[], bytes]
    write: Callable[[bytes], None]


@dataclass
class Holding:
    """One file's rows: text columns, the identifiers they carry, which rows are the person's."""

    where: str
    date: str
    columns: dict[str, pa.Array]
    ids: pa.Array | None = None
    emails: pa.Array | None = None
    phones: pa.Array | None = None
    #: Rows found to be the person's (set by ``match``).
    matched: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Whether the identifiers of matched rows tell who the person is (a report's do not).
    expands: bool = True

    @property
    def size(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def match(self, identity: Identity) -> np.ndarray:
        self.matched = match_rows(identity, self.ids, self.emails, self.phones, self.size)
        return self.matched

    def fields(self) -> list[str]:
        """The columns holding a value in the person's rows."""
        where = pa.array(np.flatnonzero(self.matched))
        return [
            name
            for name, column in self.columns.items()
            if pc.any(pc.not_equal(text_array(column.take(where)), "")).as_py()
        ]

    def values(self) -> list[dict[str, str]]:
        """The person's rows, field by field: for the operator's terminal only."""
        where = pa.array(np.flatnonzero(self.matched))
        names = self.fields()
        cells = {name: text_array(self.columns[name].take(where)).to_pylist() for name in names}
        return [{name: cells[name][i] for name in names} for i in range(len(where))]

    def erase(self) -> int:  # pragma: no cover - every holding defines it
        raise NotImplementedError


def _roles(holding: Holding) -> Holding:
    """Identifiers from the usual column names (delivery files name the contact ``address``)."""
    columns = holding.columns
    if "supporter_id" in columns:
        holding.ids = clean_ids(columns["supporter_id"])
    contact = columns.get("email", columns.get("address"))
    if contact is not None:
        holding.emails = normal_emails(contact)
    contact = columns.get("phone", columns.get("address"))
    if contact is not None:
        holding.phones = normal_phones(pc.replace_substring_regex(text_array(contact), r"^'", ""))
    return holding


def file_date(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()


def file_blob(path: Path, verify: Callable[[Path], None] | None = None) -> Blob:
    def write(data: bytes) -> None:
        if verify is not None:
            check = path.with_name(f".{path.name}.check{path.suffix}")
            check.write_bytes(data)
            try:
                verify(check)
            finally:
                check.unlink(missing_ok=True)
        replace_file(path, data)

    return Blob(path.read_bytes, write)


@dataclass
class TableFile(Holding):
    """A CSV (``,``, UTF-8) or Parquet file of the work store or the private bucket."""

    blob: Blob | None = None
    lines: np.ndarray | None = None  # CSV: where each row starts
    delimiter: str = ","

    @classmethod
    def load(cls, where: str, date: str, blob: Blob) -> TableFile:
        data = blob.read()
        if data.startswith(b"PAR1"):
            import pyarrow.parquet as pq

            table = pq.read_table(pa.BufferReader(data))
            columns = {name: text_array(table.column(name)) for name in table.column_names}
            return _roles(cls(where, date, columns, blob=blob))  # type: ignore[return-value]
        records = list(CsvLines.of(data).records(","))
        header = [name.strip() for name in records[0][1]] if records else []
        rows = [(line, fields) for line, fields in records[1:] if any(f.strip() for f in fields)]
        columns = {
            name: pa.array([f[i] if i < len(f) else "" for _, f in rows], pa.string())
            for i, name in enumerate(header)
        }
        lines = np.asarray([line for line, _ in rows], dtype=np.int64)
        return _roles(cls(where, date, columns, blob=blob, lines=lines))  # type: ignore[return-value]

    def erase(self) -> int:
        assert self.blob is not None
        data = self.blob.read()
        if self.lines is None:
            new, removed = parquet_without(data, self.matched), int(self.matched.sum())
        else:
            new, removed = CsvLines.of(data).without(
                self.lines[self.matched], self.delimiter, lambda _line, _record: True
            )
        self.blob.write(new)
        return removed


@dataclass
class QuarantineReport(TableFile):
    """A run's quarantine report: rows name (source file, line) of the export the run read."""

    #: Export name → SHA-256 the run recorded for it (inputs.json).
    read: dict[str, str] = field(default_factory=dict)

    def locate(self, exports: dict[str, InboxExport]) -> list[str]:
        """Mark the person's rows; the export names whose lines cannot be checked any more."""
        sources = text_array(self.columns.get("source_file", pa.array([], pa.string())))
        lines = text_array(self.columns.get("line", pa.array([], pa.string()))).to_pylist()
        self.matched = np.zeros(self.size, dtype=bool)
        unchecked: set[str] = set()
        for position, name in enumerate(sources.to_pylist()):
            export = exports.get(name)
            if export is None or export.sha256 != self.read.get(f"inbox/supporters/{name}"):
                unchecked.add(name)
                continue
            self.matched[position] = lines[position] in export.person_lines
        return sorted(unchecked)

    def match(self, identity: Identity) -> np.ndarray:
        return self.matched  # set by locate: a report holds masked values only


@dataclass
class InboxExport(Holding):
    """A supporter export in the inbox, read as the night reads it."""

    path: Path = field(default_factory=Path)
    raw: RawSupporters | None = None
    sha256: str = ""

    @classmethod
    def load(cls, path: Path, where: str) -> InboxExport:
        raw = read_supporters(path)
        columns = {name: raw.columns[name] for name in raw.present}
        export = cls(where, file_date(path), columns, path=path, raw=raw)
        export.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        export.ids = clean_ids(raw.columns["supporter_id"])
        export.emails = normal_emails(raw.columns["email"])
        export.phones = normal_phones(raw.columns["phone"])
        return export

    @property
    def person_lines(self) -> set[str]:
        assert self.raw is not None
        return {str(line) for line in self.raw.lines[self.matched]}

    def match(self, identity: Identity) -> np.ndarray:
        super().match(identity)
        raw = self.raw
        assert raw is not None
        if raw.format == "csv" and raw.ragged.any():
            # A row cut or shifted by a stray separator keeps no column: look at its fields.
            lines = CsvLines.of(self.path.read_bytes())
            for row in np.flatnonzero(raw.ragged & ~self.matched):
                record, _ = lines.record_at(int(raw.lines[row]), raw.delimiter or ",")
                self.matched[row] = record_matches(identity, record, ids=False)
        return self.matched

    def erase(self) -> int:
        raw = self.raw
        assert raw is not None
        removed = int(self.matched.sum())
        blob = file_blob(self.path, self._verify(raw, removed))
        data = blob.read()
        if raw.format == "parquet":
            blob.write(parquet_without(data, self.matched))
            return removed
        ids = self.ids.to_pylist() if self.ids is not None else []
        expected = {int(raw.lines[row]): ids[row] for row in np.flatnonzero(self.matched)}
        identity = Identity(set(), *self._contacts())

        def accept(line: int, record: list[str]) -> bool:
            wanted = expected[line]
            if wanted:  # the row's own id is in the record
                return wanted in clean_ids(pa.array(record, pa.string())).to_pylist()
            return record_matches(identity, record, ids=False)

        new, _ = CsvLines.of(data).without(expected, raw.delimiter or ",", accept)
        blob.write(new)
        return removed

    def _contacts(self) -> tuple[set[str], set[str]]:
        where = pa.array(np.flatnonzero(self.matched))
        pick = lambda c: {v for v in c.take(where).to_pylist() if v} if c is not None else set()  # noqa: E731
        return pick(self.emails), pick(self.phones)

    def _verify(self, raw: RawSupporters, removed: int) -> Callable[[Path], None]:
        def verify(candidate: Path) -> None:
            after = read_supporters(candidate)
            if len(after) != len(raw) - removed:
                raise PersonError(
                    f"{self.where}: rewriting it would change {abs(len(raw) - removed - len(after))} "
                    "other row(s): left as it was; remove the person's lines by hand"
                )

        return verify


@dataclass
class SuppressionFile(Holding):
    """Plain e-mails and phones of a suppression file, one per line."""

    path: Path = field(default_factory=Path)
    numbers: list[int] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, where: str) -> SuppressionFile:
        lines = CsvLines.of(path.read_bytes())
        entries, numbers = [], []
        for index in range(len(lines.lines)):
            entry = lines.text(index).strip().strip('"').strip()
            if entry and not entry.startswith("#"):
                entries.append(entry)
                numbers.append(index)
        cells = pa.array(entries, pa.string())
        plain = pc.invert(pc.match_substring_regex(cells, r"^(?i:id:)?[0-9a-fA-F]{64}$"))
        kept = pc.if_else(plain, cells, "")
        email_like = pc.match_substring(kept, "@")
        holding = cls(where, file_date(path), {"entry": kept}, path=path, numbers=numbers)
        holding.emails = pc.if_else(email_like, normal_emails(kept), "")
        holding.phones = pc.if_else(email_like, "", normal_phones(kept))
        return holding

    def fields(self) -> list[str]:
        if not self.matched.any() or self.emails is None:
            return []
        emails = self.emails.filter(pa.array(self.matched)).to_pylist()
        return sorted({"email" if email else "phone" for email in emails})

    def values(self) -> list[dict[str, str]]:
        return [
            {"entry": value}
            for value in self.columns["entry"].filter(pa.array(self.matched)).to_pylist()
        ]

    def erase(self) -> int:
        lines = CsvLines.of(self.path.read_bytes())
        doomed = {self.numbers[row] for row in np.flatnonzero(self.matched)}
        replace_file(self.path, lines.keep(doomed))
        return len(doomed)
