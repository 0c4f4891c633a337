"""What kind of text file arrived: its encoding (told apart by content, never by name), its
separator, where its header is and which field each header column means.

A CRM export or an Excel "save as CSV" comes in UTF-8, UTF-8 with a BOM, UTF-16 or
Windows-1252, with ``,``, ``;``, tab or ``|`` separators, maybe after Excel's ``sep=;`` line.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from matinale.ingest.schema import (
    _FIELDS,
    ALIASES,
    DuplicateColumnError,
    MissingColumnError,
    canonical_header,
)

if TYPE_CHECKING:
    from _csv import Reader

_DELIMITERS = (",", ";", "\t", "|")


def _decode_start(data: bytes) -> tuple[bytes, str]:
    """Strip a BOM; UTF-16 (Excel's "Unicode text") is re-encoded as UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:], "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16").encode("utf-8"), "utf-16"
    return data, "utf-8"


_CHUNK = 1 << 24


def _has_utf8_multibyte(data: bytes) -> bool:
    """Whether ``data`` holds a valid UTF-8 multi-byte sequence (lead byte, continuations).

    In a Windows-1252 file such pairs spell "Ã©"-like mojibake nobody types: their presence
    means some lines were written as UTF-8. Checked with numpy, 16 MiB at a time (a regex
    takes 15 s on a million rows, this well under one).
    """
    for start in range(0, len(data), _CHUNK):
        a = np.frombuffer(data[start : start + _CHUNK + 3], dtype=np.uint8)
        # A lead byte (C2–F4) followed by a continuation byte (80–BF): rare in cp1252 text.
        lead = np.flatnonzero((a[:-1] >= 0xC2) & (a[:-1] <= 0xF4) & ((a[1:] & 0xC0) == 0x80))
        for at in lead:
            width = 2 if a[at] <= 0xDF else 3 if a[at] <= 0xEF else 4
            tail = a[at + 1 : at + width]
            if len(tail) == width - 1 and bool(((tail & 0xC0) == 0x80).all()):
                return True
    return False


def _decode_line(line: bytes) -> tuple[str, str]:
    """One line's text and the encoding that read it: UTF-8, then cp1252, then Latin-1."""
    for encoding in ("utf-8", "cp1252"):
        try:
            return line.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return line.decode("latin-1"), "latin-1"


def _to_utf8(data: bytes) -> tuple[bytes, str, dict[str, int]]:
    """Bytes that are not all UTF-8, re-encoded as UTF-8: the encoding's name and line counts.

    Windows-1252 (Excel's "CSV" on Windows) is decoded wholesale, Latin-1 when cp1252 cannot
    be, unless the file also holds valid UTF-8 multi-byte sequences: then it is a mix (two
    exports pasted together) and each line is decoded on its own, UTF-8 first, so that
    « Frédéric » stays Frédéric whichever half of the file it is in. The counts name the
    lines holding non-ASCII bytes, by the encoding that read them (empty unless mixed).
    """
    if not _has_utf8_multibyte(data):
        try:
            return data.decode("cp1252").encode("utf-8"), "cp1252", {}
        except UnicodeDecodeError:
            return data.decode("latin-1").encode("utf-8"), "latin-1", {}
    counts: Counter[str] = Counter()
    out: list[bytes] = []
    for line in data.split(b"\n"):
        if line.isascii():
            out.append(line)
            continue
        text, encoding = _decode_line(line)
        counts[encoding] += 1
        out.append(line if encoding == "utf-8" else text.encode("utf-8"))
    names = [name for name in ("utf-8", "cp1252", "latin-1") if counts[name]]
    return b"\n".join(out), "+".join(names), {name: counts[name] for name in names}


def _csv_reader(text: str, delimiter: str) -> Reader:
    """Python's exact reader, quotes doubled as Excel writes them."""
    return csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        strict=False,
    )


def _head_records(text: str, delimiter: str, count: int) -> tuple[list[list[str]], list[int]]:
    """The first ``count`` records of ``text`` and the physical line each one ends on."""
    reader = _csv_reader(text, delimiter)
    records, ends = [], []
    try:
        for record in reader:
            records.append(record)
            ends.append(reader.line_num)
            if len(records) == count:
                break
    except csv.Error:
        pass  # a broken head: the full read names the problem
    return records, ends


def _sniff(head: str) -> tuple[str, int, list[str], int]:
    """Delimiter, lines before the header, header names and lines the header spans.

    Excel may write a ``sep=;`` line first. Otherwise the delimiter is the candidate that
    splits the header into the most known field names, then the one that splits the next
    rows into as many fields as the header, then the one giving the most columns.
    """
    skip = 0
    first_line = head.split("\n", 1)[0].rstrip("\r")
    forced = None
    if first_line.lower().startswith("sep=") and len(first_line) == 5:
        forced, skip = first_line[4], 1
        head = head.split("\n", 1)[1] if "\n" in head else ""
    best: tuple[tuple[int, int, int], str, list[str], int] | None = None
    for delimiter in (forced,) if forced else _DELIMITERS:
        records, ends = _head_records(head, delimiter, 4)
        if not records:
            continue
        header = records[0]
        known = sum(1 for name in header if canonical_header(name) in ALIASES)
        consistent = sum(1 for record in records[1:] if len(record) == len(header))
        score = (known, consistent, len(header))
        if best is None or score > best[0]:
            best = (score, delimiter, header, ends[0])
    if best is None:
        return forced or ",", skip, [], 1
    return best[1], skip, best[2], best[3]


def _map_header(header: list[str], path: Path) -> tuple[dict[str, int], tuple[str, ...]]:
    mapping: dict[str, int] = {}
    ignored: list[str] = []
    for position, name in enumerate(header):
        key = canonical_header(name)
        if not key:
            continue  # Excel's trailing empty columns
        target = ALIASES.get(key)
        if target is None:
            ignored.append(name.strip())
            continue
        if target in mapping:
            first = header[mapping[target]].strip()
            raise DuplicateColumnError(
                f"{path.name}: columns {mapping[target] + 1} ('{first}') and {position + 1} ('{name.strip()}') "
                f"both mean the field '{target}'; keep only one of them and export again"
            )
        mapping[target] = position
    if "supporter_id" not in mapping:
        accepted = ", ".join(_FIELDS["supporter_id"][:6])
        raise MissingColumnError(
            f"{path.name}: no supporter_id column among the {len(header)} columns of the first line "
            f"(accepted headers include {accepted}); add an identifier column, or the header line if it is missing"
        )
    return mapping, tuple(ignored)
