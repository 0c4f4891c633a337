"""Read the supporter file as text columns, one per field, keeping every row's line number.

CSV goes through Arrow's multithreaded reader; rows not as wide as the header (quoted
newlines cut at a block boundary aside) fall back to Python's exact ``csv`` reader, which
keeps them aside as ragged rows for the quarantine. Quoted values may hold separators and
newlines; Excel's trailing empty columns and lines made only of separators (``blank_rows``)
are dropped. Parquet is told apart by content and read as text too. Codes (supporter_id,
postal and INSEE codes, phones) always stay text.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from matinale.contacts import empty_strings
from matinale.ingest.schema import FIELDS, EmptyFileError, UnreadableFileError
from matinale.ingest.sniff import (
    _csv_reader,
    _decode_start,
    _head_records,
    _map_header,
    _sniff,
    _to_utf8,
)
from matinale.ingest.values import _bools

__all__ = ["RawSupporters", "read_supporters"]

# A quoted value running over more lines than this is an unclosed quote, not an address.
_MAX_RECORD_LINES = 100


@dataclass
class RawSupporters:
    """The file's rows as text, one column per field ("" where the file has none)."""

    source: str
    columns: dict[str, pa.Array]
    present: tuple[str, ...]
    lines: np.ndarray
    ragged: np.ndarray
    field_counts: np.ndarray
    expected_fields: int
    blank_rows: int = 0
    format: str = "csv"
    encoding: str | None = None
    #: Lines (with non-ASCII bytes) per encoding, when a file mixes them (else empty).
    encoding_lines: dict[str, int] = field(default_factory=dict)
    delimiter: str | None = None
    ignored_columns: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.lines)


class _RowShapeError(Exception):
    """A row does not have as many fields as the header: read the slow, exact way."""


def _read_arrow(
    data: bytes, delimiter: str, skip: int, width: int, newlines_in_values: bool
) -> pa.Table:
    """Every field as text, nothing read as missing; ``_RowShapeError`` on an uneven row."""
    import pyarrow.csv as pa_csv

    uneven: list[bool] = []

    def on_invalid_row(row: Any) -> str:
        uneven.append(True)  # the row's text is personal data: never kept or shown
        return "error"

    names = [f"c{i}" for i in range(width)]
    try:
        return pa_csv.read_csv(
            pa.BufferReader(data),  # zero-copy: a Python file object would copy every block
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=skip),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=newlines_in_values,
                ignore_empty_lines=False,  # blank lines keep their place for line numbers
                invalid_row_handler=on_invalid_row,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
    except pa.ArrowInvalid:
        if uneven:
            raise _RowShapeError from None
        raise


def _arrow_lines(table: pa.Table, data: bytes, first_line: int) -> np.ndarray | None:
    """Line where each record starts, from newline counts; None when they do not add up."""
    rows = table.num_rows
    physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - (first_line - 1)
    if physical == rows:  # no value spans lines: the common case costs one count
        return first_line + np.arange(rows, dtype=np.int64)
    extra = np.zeros(rows, dtype=np.int64)
    for column in table.columns:
        extra += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False).astype(np.int64)
    spans = extra + 1
    starts = first_line + np.concatenate(([0], np.cumsum(spans)[:-1])).astype(np.int64)
    return starts if int(spans.sum()) == physical else None


@dataclass
class _Parsed:
    cells: list[pa.Array]
    lines: np.ndarray
    ragged: np.ndarray
    field_counts: np.ndarray


def _read_python(text: str, delimiter: str, first_line: int, width: int, path: Path) -> _Parsed:
    """Exact, per-row reading for files whose rows are not all as wide as the header.

    ``text`` starts at ``first_line``. A row wider than the header whose extra fields are
    empty (Excel's trailing empty columns) is kept; a row of empty fields is blank; any
    other width is a ragged row, kept aside for the quarantine.
    """
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))  # long notes are not errors
    reader = _csv_reader(text, delimiter)
    columns: list[list[str]] = [[] for _ in range(width)]
    lines: list[int] = []
    counts: list[int] = []
    ragged: list[bool] = []
    offset = first_line - 1
    previous_end = offset
    try:
        for record in reader:
            start, end = previous_end + 1, offset + reader.line_num
            if end - previous_end > _MAX_RECORD_LINES:
                raise UnreadableFileError(
                    f"{path.name}, line {start}: a quoted value runs over more than {_MAX_RECORD_LINES} lines; "
                    'a closing quote (") is probably missing: fix that line and export again'
                )
            previous_end = end
            found = len(record)
            if not any(value.strip() for value in record):
                record, bad = [""] * width, False  # blank: dropped later
            elif found > width and not any(value.strip() for value in record[width:]):
                record, bad = record[:width], False  # Excel's trailing empty columns
            else:
                bad = found != width
            for position in range(width):
                columns[position].append("" if bad else record[position])
            lines.append(start)
            counts.append(found)
            ragged.append(bad)
    except csv.Error as exc:
        raise UnreadableFileError(
            f"{path.name}, line {previous_end + 1}: not readable as CSV ({exc}); check the quotes on that line"
        ) from exc
    return _Parsed(
        cells=[pa.array(values, pa.string()) for values in columns],
        lines=np.asarray(lines, dtype=np.int64),
        ragged=np.asarray(ragged, dtype=bool),
        field_counts=np.asarray(counts, dtype=np.int64),
    )


@dataclass
class _Body:
    """The file's bytes as UTF-8 and how they were decoded."""

    data: bytes
    encoding: str
    lines: dict[str, int] = field(default_factory=dict)

    def to_utf8(self) -> None:
        """Not UTF-8 after all: Windows-1252, or a mix decoded line by line."""
        self.data, self.encoding, self.lines = _to_utf8(self.data)


def _read_fast(body: _Body, delimiter: str, skip: int, width: int, path: Path) -> pa.Table | None:
    """Arrow's multithreaded reader; None when some row is not ``width`` fields wide.

    Values spanning lines are rare, and allowing for them costs a third more, so the first
    attempt assumes none: Arrow reports the mismatch when one appears.
    """
    newlines = False
    for _ in range(4):
        try:
            return _read_arrow(body.data, delimiter, skip, width, newlines_in_values=newlines)
        except _RowShapeError:
            if newlines or b'"' not in body.data:
                return None
            newlines = True  # a quoted newline cut at a block boundary looks like a short row
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "UTF8" in message.upper() and body.encoding in ("utf-8", "utf-8-sig"):
                body.to_utf8()
            elif ("out of sync" in message or "newlines_in_values" in message) and not newlines:
                newlines = True
            elif "Empty CSV file" in message:
                raise EmptyFileError(
                    f"{path.name}: the file has a header but no rows; export the supporters again"
                ) from exc
            else:
                # Arrow quotes the offending row after the first colon: personal data.
                reason = message.splitlines()[0].split(":", 1)[0]
                raise UnreadableFileError(
                    f"{path.name}: not readable as CSV ({reason}); open it in a text editor and check the quotes"
                ) from exc
    return None  # pragma: no cover - every branch above returns or changes state


def _read_csv(path: Path) -> RawSupporters:
    # This function holds the only reference to the file's bytes, so they are freed as soon
    # as the table is built (at 1M rows they weigh about 200 MB).
    try:
        body = _Body(*_decode_start(path.read_bytes()))
    except OSError as exc:
        raise UnreadableFileError(
            f"{path}: cannot be read ({exc.strerror}); check its permissions"
        ) from exc
    # Anywhere in the file, not only in its head: a NUL past the first block would otherwise
    # reach names and ids as data. The line is named, never the cell (personal data).
    nul = body.data.find(b"\x00")
    if nul >= 0:
        line = body.data.count(b"\n", 0, nul) + 1
        raise UnreadableFileError(
            f"{path.name}: binary content, a NUL byte on line {line} (or UTF-16 without its byte-order mark); export the file as CSV UTF-8"
        )
    if b"\n" not in body.data and b"\r" in body.data:
        body.data = body.data.replace(b"\r", b"\n")  # old Mac line ends
    # The sniffer reads the first 64 KiB, or more when that does not hold the header and two
    # rows: a header of 10,000 columns is longer, and cut it would shift every row.
    size = 65536
    while size < len(body.data) and body.data.count(b"\n", 0, size) < 4:
        size *= 2
    head_bytes = body.data[:size]
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head_bytes) - 4:  # not just a character cut by the size limit
            body.to_utf8()
            head = body.data[:size].decode("utf-8", errors="ignore")
        else:
            head = head_bytes[: exc.start].decode("utf-8")
    delimiter, skip, header, header_lines = _sniff(head)
    if not header or not any(name.strip() for name in header):
        raise EmptyFileError(f"{path.name}: the file is empty; export the supporters again")
    mapping, ignored = _map_header(header, path)
    width = len(header)
    first_line = skip + header_lines + 1
    # Excel repeats trailing empty columns on every row when the sheet had stray cells.
    records, _ = _head_records(head.split("\n", skip)[-1] if skip else head, delimiter, 2)
    padded = width
    if (
        len(records) == 2
        and len(records[1]) > width
        and not any(v.strip() for v in records[1][width:])
    ):
        padded = len(records[1])

    parsed: _Parsed | None = None
    table = _read_fast(body, delimiter, skip + header_lines, padded, path)
    encoding, encoding_lines = body.encoding, body.lines
    if table is not None:
        lines = _arrow_lines(table, body.data, first_line)
        if lines is not None:
            del body
            columns, table = table.columns, None
            cells = [columns[position].combine_chunks() for position in range(len(columns))]
            del columns
            rows = len(lines)
            # Fields past the header must be empty: a value there means a shifted row.
            overflow = np.zeros(rows, dtype=bool)
            for column in cells[width:]:
                overflow |= _bools(pc.not_equal(pc.utf8_trim_whitespace(column), ""))
            parsed = _Parsed(
                cells=cells[:width],
                lines=lines,
                ragged=overflow,
                field_counts=np.full(rows, padded, dtype=np.int64),
            )
    if parsed is None:
        text = body.data.decode("utf-8", errors="replace")
        text = text.split("\n", first_line - 1)[-1] if first_line > 1 else text
        parsed = _read_python(text, delimiter, first_line, width, path)
    raw = _raw_from_cells(path, parsed, mapping, width)
    raw.encoding, raw.delimiter, raw.ignored_columns = encoding, delimiter, ignored
    raw.encoding_lines = encoding_lines
    return raw


def _blank_rows(cells: list[pa.Array], ragged: np.ndarray) -> np.ndarray:
    """Rows made only of separators (Excel's ";;;;" lines): they are not rows at all."""
    rows = len(ragged)
    if not cells:
        return ~ragged
    # Only a row whose first cell is empty can be blank: check the others there alone.
    first = np.asarray(
        pc.equal(pc.utf8_trim_whitespace(cells[0]), "").to_numpy(zero_copy_only=False), dtype=bool
    )
    candidates = np.flatnonzero(first & ~ragged)
    blank = np.zeros(rows, dtype=bool)
    if not candidates.size:
        return blank
    still = np.ones(candidates.size, dtype=bool)
    positions = pa.array(candidates)
    for column in cells[1:]:
        still &= np.asarray(
            pc.equal(pc.utf8_trim_whitespace(column.take(positions)), "").to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
    blank[candidates[still]] = True
    return blank


def _raw_from_cells(
    path: Path, parsed: _Parsed, mapping: dict[str, int], width: int
) -> RawSupporters:
    blank = _blank_rows(parsed.cells, parsed.ragged)
    keep = np.flatnonzero(~blank)
    if keep.size == 0:
        raise EmptyFileError(
            f"{path.name}: the file has a header but no rows; export the supporters again"
        )
    take = pa.array(keep) if keep.size != len(blank) else None
    empty = empty_strings(keep.size)
    columns = {}
    for name in FIELDS:
        if name in mapping:
            cells = parsed.cells[mapping[name]]
            columns[name] = cells.take(take) if take is not None else cells
        else:
            columns[name] = empty
    return RawSupporters(
        source=path.name,
        columns=columns,
        present=tuple(name for name in FIELDS if name in mapping),
        lines=parsed.lines[keep],
        ragged=parsed.ragged[keep],
        field_counts=parsed.field_counts[keep],
        expected_fields=width,
        blank_rows=int(blank.sum()),
    )


def _read_parquet(path: Path) -> RawSupporters:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFileError(
            f"{path.name}: not a readable Parquet file ({exc}); export it again"
        ) from exc
    header = [str(name) for name in table.column_names]
    mapping, ignored = _map_header(header, path)
    if table.num_rows == 0:
        raise EmptyFileError(f"{path.name}: the file has no rows; export the supporters again")
    cells: list[pa.Array] = []
    for name_field, position in mapping.items():
        column = table.column(position)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        try:
            text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise UnreadableFileError(
                f"{path.name}: column '{header[position]}' ({name_field}) has type {column.type}, "
                "which cannot be read as text; store it as a string column"
            ) from exc
        text = pc.fill_null(text, "")
        cells.append(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text)
    rows = table.num_rows
    parsed = _Parsed(
        cells=cells,
        lines=np.arange(
            1, rows + 1, dtype=np.int64
        ),  # Parquet has rows, not lines: row 1 is the first
        ragged=np.zeros(rows, dtype=bool),
        field_counts=np.full(rows, len(header), dtype=np.int64),
    )
    raw = _raw_from_cells(
        path, parsed, {name_field: i for i, name_field in enumerate(mapping)}, len(header)
    )
    raw.format, raw.ignored_columns = "parquet", ignored
    return raw


def read_supporters(path: Path) -> RawSupporters:
    """Read a CSV or Parquet supporter file (told apart by content) as text columns.

    Raises a subclass of ``IngestError`` when the file as a whole cannot be used.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            magic = handle.read(8)
    except FileNotFoundError as exc:
        raise UnreadableFileError(
            f"{path}: supporter file not found; check the path or the inbox"
        ) from exc
    except IsADirectoryError as exc:
        raise UnreadableFileError(f"{path}: is a folder, not a supporter file") from exc
    except OSError as exc:
        raise UnreadableFileError(
            f"{path}: cannot be read ({exc.strerror}); check its permissions"
        ) from exc
    if not magic:
        raise EmptyFileError(f"{path.name}: the file is empty; export the supporters again")
    if magic.startswith(b"PAR1"):
        return _read_parquet(path)
    if magic.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise UnreadableFileError(
            f"{path.name}: this is an Excel workbook, not a CSV; in Excel use "
            "« Enregistrer sous » → « CSV UTF-8 (délimité par des virgules) » and drop that file"
        )
    return _read_csv(path)
