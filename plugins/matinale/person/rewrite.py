"""Rewrite a file without some of its rows, everything else kept as it was.

A CRM export is rewritten byte for byte minus the person's records: same encoding (BOM
included), separator, quoting and line ends, so the night reads the rest exactly as before.
Records are told apart by Python's exact CSV reader; a record spans as many physical lines
as its quoted values need. Parquet is rewritten minus the rows, schema and metadata kept.
Files on disk are replaced atomically (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matinale.person.identity import PersonError

__all__ = ["CsvLines", "parquet_without", "replace_file"]

_MAX_RECORD_LINES = 100  # as ingest: a quoted value longer than this is an unclosed quote


@dataclass
class CsvLines:
    """A text file as physical lines (each with its line end).

    Lines are kept as text in ``codec``: Latin-1 for byte-oriented encodings (it maps every
    byte to one character and back, so the bytes come back exactly), UTF-16 for UTF-16.
    ``encoding`` is how a line's bytes read as text.
    """

    bom: bytes
    codec: str
    encoding: str
    lines: list[str]

    @classmethod
    def of(cls, data: bytes) -> CsvLines:
        for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
            if data.startswith(bom):
                text = data[len(bom) :].decode(codec)
                return cls(bom, codec, codec, _split(text))
        bom = b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b""
        body = data[len(bom) :]
        encoding = "utf-8"
        for candidate in ("utf-8", "cp1252", "latin-1"):
            try:
                body.decode(candidate)
            except UnicodeDecodeError:
                continue
            encoding = candidate
            break
        return cls(bom, "latin-1", encoding, _split(body.decode("latin-1")))

    def text(self, index: int) -> str:
        line = self.lines[index]
        if self.codec == "latin-1":
            return line.encode("latin-1").decode(self.encoding, errors="replace")
        return line

    def keep(self, doomed: set[int]) -> bytes:
        """The file's bytes without the lines at the ``doomed`` indexes (0-based)."""
        kept = "".join(line for index, line in enumerate(self.lines) if index not in doomed)
        return self.bom + kept.encode(self.codec)

    def record_at(self, line: int, delimiter: str) -> tuple[list[str], int]:
        """The record starting on physical ``line`` (1-based) and how many lines it spans."""

        def source() -> Iterator[str]:
            for index in range(line - 1, min(len(self.lines), line - 1 + _MAX_RECORD_LINES)):
                yield self.text(index)

        reader = csv.reader(
            source(), delimiter=delimiter, quotechar='"', doublequote=True, strict=False
        )
        try:
            record = next(reader)
        except (StopIteration, csv.Error):
            return [], 0
        return record, reader.line_num

    def records(self, delimiter: str) -> Iterator[tuple[int, list[str]]]:
        """Every record with the physical line it starts on (the header is line 1)."""
        reader = csv.reader(
            (self.text(i) for i in range(len(self.lines))),
            delimiter=delimiter,
            quotechar='"',
            doublequote=True,
            strict=False,
        )
        start = 1
        for record in reader:
            yield start, record
            start = reader.line_num + 1

    def without(
        self, starts: Iterable[int], delimiter: str, accept: Callable[[int, list[str]], bool]
    ) -> tuple[bytes, int]:
        """The file's bytes without the records starting on ``starts``; how many went.

        ``accept`` must confirm each record is the person's: a record that is not (the file
        changed, or its lines were numbered differently) stops everything, nothing written.
        """
        doomed: set[int] = set()
        removed = 0
        for line in sorted(set(starts)):
            record, span = self.record_at(line, delimiter)
            if not span or not accept(line, record):
                raise PersonError(
                    f"line {line} is not the person's record any more (the file changed?): "
                    "nothing was rewritten; run the command again"
                )
            doomed.update(range(line - 1, line - 1 + span))
            removed += 1
        return self.keep(doomed), removed


def _split(text: str) -> list[str]:
    """Physical lines as the night numbers them: at ``\\n`` (``\\r`` in old Mac files)."""
    end = "\n" if "\n" in text or "\r" not in text else "\r"
    parts = text.split(end)
    lines = [part + end for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parquet_without(data: bytes, drop: np.ndarray) -> bytes:
    """A Parquet file's bytes without the rows ``drop`` marks (schema and metadata kept)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(data))
    kept = table.filter(pa.array(~np.asarray(drop, dtype=bool)))
    sink = pa.BufferOutputStream()
    pq.write_table(kept, sink, compression="snappy")
    return bytes(sink.getvalue().to_pybytes())


def replace_file(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically, keeping its permissions."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
