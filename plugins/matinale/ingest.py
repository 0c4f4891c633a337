"""Read the supporter file as it really arrives, and account for every row.

A CRM export or an Excel "save as CSV" comes in UTF-8, UTF-8 with a BOM, UTF-16 or
Windows-1252 (told apart by content, never by name), with ``,``, ``;`` or tab separators,
quoted values holding separators and newlines, Excel's ``'`` in front of codes, trailing
empty columns, or as Parquet. Headers may be French or English (``ALIASES``). Codes
(supporter_id, postal and INSEE codes, phones) always stay text.

Every row read ends in exactly one bucket, decided in this order:

1. **quarantined**: some value is invalid; the quarantine report lists every problem
   (file, line, column, masked value, reason, hint);
2. **suppressed**: the person's e-mail or phone is on the suppression list, or a duplicate
   of them is (checked right after normalisation, before deduplication);
3. **merged**: a duplicate (same supporter_id, normalised e-mail or phone, transitively) of
   an earlier row; the earliest row survives, empty fields filled from its duplicates, and
   every consent is the most restrictive one found (an opt-out anywhere is an opt-out,
   including on a quarantined duplicate);
4. **valid**.

So ``rows_read = valid + quarantined + duplicates_merged + suppressed``. Lines made only of
separators are not rows (``blank_rows``). The hot path is columnar (pyarrow.compute and
numpy, per distinct value where a column repeats itself); Python only runs per value for
``phonenumbers`` leftovers, SHA-256 suppression digests and the quarantined cells.
"""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matinale.contacts import empty_strings, normalise_emails, normalise_phones
from matinale.privacy import SuppressionList, compliance_counts, mask_cell, neutralise_formula

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

MIN_AGE = 16
MAX_AGE = 110
DEFAULT_MAX_QUARANTINE_SHARE = 0.20

# Every field and the header spellings that mean it. Lookup folds case, accents, spaces,
# underscores and punctuation (``canonical_header``), so "Date de naissance",
# "date_naissance" and "DATE-DE-NAISSANCE" are one entry.
_FIELDS: dict[str, tuple[str, ...]] = {
    "supporter_id": (
        "supporter_id", "id", "identifiant", "id_sympathisant", "id_supporter", "id_contact",
        "contact_id", "numero_adherent", "n_adherent", "id_adherent", "ref", "reference",
    ),
    "first_name": ("first_name", "prenom", "firstname", "given_name"),
    "last_name": ("last_name", "nom", "lastname", "nom_de_famille", "surname", "family_name"),
    "email": (
        "email", "e-mail", "courriel", "mail", "adresse_email", "adresse_e-mail", "adresse_mail",
        "adresse_courriel", "email_address",
    ),
    "phone": (
        "phone", "telephone", "portable", "mobile", "tel", "tel_portable", "telephone_portable",
        "numero_de_telephone", "numero_telephone", "n_de_telephone", "n_telephone", "phone_number", "mobile_phone", "gsm",
    ),
    "birth_date": (
        "birth_date", "date_de_naissance", "date_naissance", "naissance", "birthdate",
        "date_of_birth", "dob", "ne_le", "nee_le",
    ),
    "age": ("age", "age_ans"),
    "postal_code": ("postal_code", "code_postal", "cp", "zip", "zip_code", "postcode"),
    "insee_com": ("insee_com", "code_insee", "insee", "code_commune", "code_commune_insee", "commune_insee"),
    "consent_email": ("consent_email", "consentement_email", "consentement_courriel", "optin_email", "opt_in_email"),
    "consent_sms": ("consent_sms", "consentement_sms", "optin_sms", "opt_in_sms"),
    "consent_whatsapp": ("consent_whatsapp", "consentement_whatsapp", "optin_whatsapp", "opt_in_whatsapp"),
    "consent_social": (
        "consent_social", "consentement_reseaux", "consentement_reseaux_sociaux", "optin_social", "opt_in_social",
    ),
    "consent_date": ("consent_date", "date_consentement", "date_du_consentement", "date_de_consentement"),
    "legal_basis": ("legal_basis", "base_legale", "fondement", "fondement_juridique", "base_juridique"),
    "joined_on": ("joined_on", "date_adhesion", "date_d_adhesion", "date_inscription", "date_d_inscription", "inscrit_le", "joined"),
    "interests": ("interests", "centres_interet", "centres_d_interet", "interets", "thematiques", "themes"),
    "events_attended": ("events_attended", "evenements", "nb_evenements", "evenements_suivis", "nombre_evenements"),
    "shares_30d": ("shares_30d", "partages_30j", "partages", "partages_30_jours", "nb_partages"),
    "donor": ("donor", "donateur", "donatrice", "donateur_rice"),
    "volunteer": ("volunteer", "benevole", "militant"),
}
FIELDS: tuple[str, ...] = tuple(_FIELDS)
CONSENT_FIELDS = ("consent_email", "consent_sms", "consent_whatsapp", "consent_social")
BOOLEAN_FIELDS = (*CONSENT_FIELDS, "donor", "volunteer")
COUNT_FIELDS = ("events_attended", "shares_30d")
DATE_FIELDS = ("birth_date", "consent_date", "joined_on")
_TRUE = ("oui", "o", "vrai", "true", "yes", "y", "1", "x")
_FALSE = ("non", "n", "faux", "false", "no", "0", "")

#: Reason code → a hint the data team can act on (French: the team and the campaign are).
REASONS: dict[str, str] = {
    "wrong_field_count": "La ligne n'a pas autant de champs que l'en-tête : un séparateur dans une valeur sans guillemets ?",
    "missing_supporter_id": "Identifiant vide : chaque ligne doit avoir un supporter_id.",
    "mangled_supporter_id": "Identifiant abîmé par Excel (notation scientifique, ex. 1,23E+05) : formatez la colonne en Texte avant d'exporter.",
    "unreadable_date": "Date illisible : écrivez AAAA-MM-JJ, JJ/MM/AAAA ou JJ/MM/AA (ex. 1975-03-21 ou 21/03/1975).",
    "impossible_date": "Date impossible (ex. 31/02) : corrigez le jour ou le mois ; elle n'est jamais reportée au mois suivant.",
    "missing_age": "Ni date de naissance ni âge : renseignez l'un des deux (l'âge sert à écarter les mineurs).",
    "unreadable_age": "Âge illisible : un nombre entier, éventuellement suivi de « ans » (ex. 45 ou 45 ans).",
    "age_out_of_range": f"Âge hors de {MIN_AGE} à {MAX_AGE} ans à la date de référence : vérifiez la date de naissance ou l'âge.",
    "invalid_email": "Adresse e-mail invalide : un seul @ et un domaine complet (ex. prenom.nom@example.org), sans espace ni accent.",
    "invalid_phone": "Numéro illisible : format français (06 12 34 56 78) ou international (+33 6 12 34 56 78), un seul numéro par case.",
    "invalid_postal_code": "Code postal mal formé : 5 chiffres (ex. 01400) ; formatez la colonne en Texte pour garder le zéro initial.",
    "unknown_postal_code": "Code postal absent de la table des communes : vérifiez-le.",
    "invalid_insee_code": "Code INSEE mal formé : 5 caractères (ex. 01001 ou 2A004).",
    "unknown_insee_code": "Code INSEE absent de la table des communes : vérifiez-le (ce n'est pas le code postal).",
    "postal_insee_mismatch": "Ce code postal ne dessert pas cette commune : corrigez l'un des deux, ou videz le code INSEE.",
    "missing_location": "Ni code postal ni code INSEE : renseignez au moins l'un des deux.",
    "unreadable_boolean": "Valeur oui/non illisible : oui, non, o, n, vrai, faux, true, false, yes, no, y, 1, 0, x (= oui), vide (= non).",
    "unreadable_count": "Nombre entier positif ou nul attendu (ex. 0 ou 3) ; vide vaut 0.",
}
_QUARANTINE_COLUMNS = ("source_file", "line", "column", "value", "reason", "hint")
_BUCKETS = ("valid", "quarantined", "suppressed", "merged")
# A quoted value running over more lines than this is an unclosed quote, not an address.
_MAX_RECORD_LINES = 100
_DELIMITERS = (",", ";", "\t", "|")
_STRING_TYPES = {pa.string(): pd.StringDtype("pyarrow", na_value=np.nan), pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan)}
# Paris, Lyon and Marseille: the commune codes CRMs use for the whole city, whose table rows
# are the arrondissements.
_ARM_TYPE = "ARM"


def canonical_header(header: str) -> str:
    """Fold a header for lookup: lowercase, no accents, letters and digits only."""
    text = unicodedata.normalize("NFKD", str(header).strip().lstrip("\ufeff"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "", text)


ALIASES: dict[str, str] = {canonical_header(name): name_field for name_field, names in _FIELDS.items() for name in names}


class IngestError(ValueError):
    """The file as a whole cannot be used: the night stops and nothing is published."""


class UnreadableFileError(IngestError):
    """The file is missing, unreadable, or not a CSV/Parquet supporter export."""


class EmptyFileError(IngestError):
    """The file holds no supporter row."""


class MissingColumnError(IngestError):
    """A required column (supporter_id) is not in the header."""


class DuplicateColumnError(IngestError):
    """Two columns of the header mean the same field."""


# ---------------------------------------------------------------------------- reading


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
    delimiter: str | None = None
    ignored_columns: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.lines)


def _decode_start(data: bytes) -> tuple[bytes, str]:
    """Strip a BOM; UTF-16 (Excel's "Unicode text") is re-encoded as UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:], "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16").encode("utf-8"), "utf-16"
    return data, "utf-8"


def _to_utf8(data: bytes) -> tuple[bytes, str]:
    """Windows-1252 (Excel's "CSV" on Windows) re-encoded; Latin-1 when cp1252 cannot be."""
    try:
        return data.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8"), "latin-1"


def _head_records(text: str, delimiter: str, count: int) -> tuple[list[list[str]], list[int]]:
    """The first ``count`` records of ``text`` and the physical line each one ends on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
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


class _RowShapeError(Exception):
    """A row does not have as many fields as the header: read the slow, exact way."""


def _read_arrow(data: bytes, delimiter: str, skip: int, width: int, newlines_in_values: bool) -> pa.Table:
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
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
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
                    "a closing quote (\") is probably missing: fix that line and export again"
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
        raise UnreadableFileError(f"{path.name}, line {previous_end + 1}: not readable as CSV ({exc}); check the quotes on that line") from exc
    return _Parsed(
        cells=[pa.array(values, pa.string()) for values in columns],
        lines=np.asarray(lines, dtype=np.int64),
        ragged=np.asarray(ragged, dtype=bool),
        field_counts=np.asarray(counts, dtype=np.int64),
    )


def _read_fast(body: bytes, encoding: str, delimiter: str, skip: int, width: int, path: Path) -> tuple[pa.Table | None, bytes, str]:
    """Arrow's multithreaded reader; None when some row is not ``width`` fields wide.

    Values spanning lines are rare, and allowing for them costs a third more, so the first
    attempt assumes none: Arrow reports the mismatch when one appears.
    """
    newlines = False
    for _ in range(4):
        try:
            return _read_arrow(body, delimiter, skip, width, newlines_in_values=newlines), body, encoding
        except _RowShapeError:
            if newlines or b'"' not in body:
                return None, body, encoding
            newlines = True  # a quoted newline cut at a block boundary looks like a short row
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "UTF8" in message.upper() and encoding in ("utf-8", "utf-8-sig"):
                body, encoding = _to_utf8(body)  # not UTF-8 after all: Windows-1252
            elif ("out of sync" in message or "newlines_in_values" in message) and not newlines:
                newlines = True
            elif "Empty CSV file" in message:
                raise EmptyFileError(f"{path.name}: the file has a header but no rows; export the supporters again") from exc
            else:
                # Arrow quotes the offending row after the first colon: personal data.
                reason = message.splitlines()[0].split(":", 1)[0]
                raise UnreadableFileError(f"{path.name}: not readable as CSV ({reason}); open it in a text editor and check the quotes") from exc
    return None, body, encoding  # pragma: no cover - every branch above returns or changes state


def _read_csv(path: Path) -> RawSupporters:
    # This function holds the only reference to the file's bytes, so they are freed as soon
    # as the table is built (at 1M rows they weigh about 200 MB).
    try:
        body, encoding = _decode_start(path.read_bytes())
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    if b"\x00" in body[:65536]:
        raise UnreadableFileError(
            f"{path.name}: binary content (or UTF-16 without its byte-order mark); export the file as CSV UTF-8"
        )
    if b"\n" not in body and b"\r" in body:
        body = body.replace(b"\r", b"\n")  # old Mac line ends
    head_bytes = body[:65536]
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head_bytes) - 4:  # not just a character cut by the 64 KiB limit
            body, encoding = _to_utf8(body)
            head = body[:65536].decode("utf-8", errors="ignore")
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
    if len(records) == 2 and len(records[1]) > width and not any(v.strip() for v in records[1][width:]):
        padded = len(records[1])

    parsed: _Parsed | None = None
    table, body, encoding = _read_fast(body, encoding, delimiter, skip + header_lines, padded, path)
    if table is not None:
        lines = _arrow_lines(table, body, first_line)
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
        text = body.decode("utf-8", errors="replace")
        text = text.split("\n", first_line - 1)[-1] if first_line > 1 else text
        parsed = _read_python(text, delimiter, first_line, width, path)
    raw = _raw_from_cells(path, parsed, mapping, width)
    raw.encoding, raw.delimiter, raw.ignored_columns = encoding, delimiter, ignored
    return raw


def _blank_rows(cells: list[pa.Array], ragged: np.ndarray) -> np.ndarray:
    """Rows made only of separators (Excel's ";;;;" lines): they are not rows at all."""
    rows = len(ragged)
    if not cells:
        return ~ragged
    # Only a row whose first cell is empty can be blank: check the others there alone.
    first = np.asarray(pc.equal(pc.utf8_trim_whitespace(cells[0]), "").to_numpy(zero_copy_only=False), dtype=bool)
    candidates = np.flatnonzero(first & ~ragged)
    blank = np.zeros(rows, dtype=bool)
    if not candidates.size:
        return blank
    still = np.ones(candidates.size, dtype=bool)
    positions = pa.array(candidates)
    for column in cells[1:]:
        still &= np.asarray(pc.equal(pc.utf8_trim_whitespace(column.take(positions)), "").to_numpy(zero_copy_only=False), dtype=bool)
    blank[candidates[still]] = True
    return blank


def _raw_from_cells(path: Path, parsed: _Parsed, mapping: dict[str, int], width: int) -> RawSupporters:
    blank = _blank_rows(parsed.cells, parsed.ragged)
    keep = np.flatnonzero(~blank)
    if keep.size == 0:
        raise EmptyFileError(f"{path.name}: the file has a header but no rows; export the supporters again")
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
        raise UnreadableFileError(f"{path.name}: not a readable Parquet file ({exc}); export it again") from exc
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
        lines=np.arange(1, rows + 1, dtype=np.int64),  # Parquet has rows, not lines: row 1 is the first
        ragged=np.zeros(rows, dtype=bool),
        field_counts=np.full(rows, len(header), dtype=np.int64),
    )
    raw = _raw_from_cells(path, parsed, {name_field: i for i, name_field in enumerate(mapping)}, len(header))
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
        raise UnreadableFileError(f"{path}: supporter file not found; check the path or the inbox") from exc
    except IsADirectoryError as exc:
        raise UnreadableFileError(f"{path}: is a folder, not a supporter file") from exc
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
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


# ----------------------------------------------------------------------- values


def _bools(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _distinct(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The distinct values and, for each row, the position of its value among them.

    Low-cardinality columns (dates, codes, yes/no) are checked once per distinct value.
    """
    encoded = pc.dictionary_encode(values)
    return encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False)


def _clean(values: pa.Array) -> pa.Array:
    """Trimmed text without Excel's leading apostrophe (its "keep as text" marker)."""
    return pc.replace_substring_regex(pc.utf8_trim_whitespace(values), r"^'\s*", "")


def _is_empty(values: pa.Array) -> np.ndarray:
    return _bools(pc.equal(values, ""))


@dataclass
class _Dates:
    iso: pa.Array
    year: np.ndarray
    month: np.ndarray
    day: np.ndarray
    empty: np.ndarray
    unreadable: np.ndarray
    impossible: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        return ~(self.empty | self.unreadable | self.impossible)


_ISO_DATE = r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
_FRENCH_DATE = r"^(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4}|\d{2})(?: \d{1,2}:\d{2}(?::\d{2})?)?$"


def _ints(values: pa.Array) -> np.ndarray:
    filled = pc.if_else(pc.equal(values, ""), "0", values)
    return pc.cast(filled, pa.int64()).to_numpy(zero_copy_only=False)


def _no_dates(rows: int) -> _Dates:
    zeros, none = np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=bool)
    return _Dates(empty_strings(rows), zeros, zeros, zeros, ~none, none, none)


def _parse_dates(values: pa.Array, reference: date) -> _Dates:
    """ISO, dd/mm/yyyy or dd/mm/yy dates, checked to exist (31/02 is an error, never March)."""
    distinct, index = _distinct(values)
    text = _clean(distinct)
    iso = pc.extract_regex(text, _ISO_DATE)
    french = pc.extract_regex(text, _FRENCH_DATE)
    is_iso, is_french = _bools(pc.is_valid(iso)), _bools(pc.is_valid(french))
    parts = {}
    for key in ("y", "m", "d"):
        parts[key] = np.where(
            is_iso, _ints(pc.fill_null(pc.struct_field(iso, key), "")), _ints(pc.fill_null(pc.struct_field(french, key), ""))
        )
    year, month, day = parts["y"], parts["m"], parts["d"]
    # Two-digit years up to this year's are 20yy, later ones 19yy.
    short_year = is_french & (pc.utf8_length(pc.fill_null(pc.struct_field(french, "y"), "")).to_numpy(zero_copy_only=False) == 2)
    pivot = reference.year % 100
    year = np.where(short_year, np.where(year <= pivot, 2000 + year, 1900 + year), year)
    matched = is_iso | is_french
    in_range = matched & (month >= 1) & (month <= 12) & (day >= 1) & (year >= 1800) & (year <= 2200)
    safe_month = np.where(in_range, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    first_day = safe_month.astype("datetime64[D]")
    month_length = ((safe_month + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    exists = in_range & (day <= month_length)
    stamp = first_day + np.where(exists, day - 1, 0).astype("timedelta64[D]")
    iso_text = np.where(exists, np.datetime_as_string(stamp, unit="D"), "")
    empty = _is_empty(text)
    return _Dates(
        iso=pa.array(iso_text, pa.string()).take(pa.array(index)),
        year=np.where(exists, year, 0)[index],
        month=np.where(exists, month, 0)[index],
        day=np.where(exists, day, 0)[index],
        empty=empty[index],
        unreadable=(~empty & ~matched)[index],
        impossible=(matched & ~exists)[index],
    )


def _parse_counts(values: pa.Array, pattern: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integers (``45``, ``45.0``, ``45 ans`` per pattern): values, empty, unreadable."""
    distinct, index = _distinct(values)
    text = _clean(distinct)
    number = pc.extract_regex(text, pattern)
    readable = _bools(pc.is_valid(number))
    digits = pc.fill_null(pc.struct_field(number, "n"), "")
    result = np.where(readable, _ints(pc.utf8_slice_codeunits(digits, 0, 9)), 0)
    empty = _is_empty(text)
    return result[index], empty[index], (~empty & ~readable)[index]


def _parse_booleans(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """oui/non/o/n/vrai/faux/true/false/yes/no/y/1/0/x (x = yes, empty = no): values, unreadable."""
    distinct, index = _distinct(values)
    text = pc.utf8_lower(_clean(distinct))
    is_true = _bools(pc.is_in(text, value_set=pa.array(_TRUE)))
    is_false = _bools(pc.is_in(text, value_set=pa.array(_FALSE)))
    return is_true[index], (~is_true & ~is_false)[index]


def _normalise_interests(values: pa.Array) -> pa.Array:
    """``Écologie ; Emploi`` → ``ecologie|emploi``: slug tokens joined by ``|``."""
    distinct, index = _distinct(values)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(distinct))
    text = pc.replace_substring_regex(pc.utf8_normalize(text, "NFKD"), r"\p{Mn}", "")
    text = pc.replace_substring_regex(text, r"[|,;/]", "|")
    text = pc.replace_substring_regex(text, r"[^a-z0-9|]+", "-")
    text = pc.replace_substring_regex(text, r"-*\|[-|]*", "|")
    text = pc.replace_substring_regex(text, r"^[-|]+|[-|]+$", "")
    return text.take(pa.array(index))


# -------------------------------------------------------------------- communes


@dataclass(frozen=True)
class _Communes:
    postal_codes: pd.Index  # every postal code
    postal_candidates: pa.Array  # "|"-joined INSEE codes it serves
    insee_codes: pd.Index  # every valid commune code, city codes of Paris/Lyon/Marseille included
    city_candidates: pa.Array  # for each insee code: its arrondissements ("" when not a city)
    pair_keys: pd.Index  # "postal|insee"
    pair_insee: pa.Array  # the commune a pair means ("|"-joined when several arrondissements)


@lru_cache(maxsize=1)
def _communes() -> _Communes:
    from matinale.geo import communes, postal_codes

    table = communes()
    by_postal = postal_codes()
    own = table["insee_com"].where(table["commune_type"] != "COMD", table["insee_parente"])
    pairs = pd.DataFrame({"postal": table["code_postal"], "key_insee": own, "insee": own})
    arrondissements = table[table["commune_type"] == _ARM_TYPE]
    city_pairs = pd.DataFrame(
        {"postal": arrondissements["code_postal"], "key_insee": arrondissements["insee_parente"], "insee": arrondissements["insee_com"]}
    )
    pairs = pd.concat([pairs, city_pairs]).drop_duplicates().sort_values(["postal", "key_insee", "insee"])
    # Grouped in plain Python over the sorted rows: a pandas groupby-agg with a Python
    # function costs a second here, paid by every ingest process (40,000 small groups).
    resolved: dict[str, list[str]] = {}
    for postal, key_insee, insee in zip(pairs["postal"].tolist(), pairs["key_insee"].tolist(), pairs["insee"].tolist(), strict=True):
        if isinstance(postal, str) and isinstance(key_insee, str):  # groupby drops missing keys
            resolved.setdefault(f"{postal}|{key_insee}", []).append(insee)
    city_sets: dict[str, set[str]] = {}
    for parent, code in zip(arrondissements["insee_parente"].tolist(), arrondissements["insee_com"].tolist(), strict=True):
        if isinstance(parent, str):
            city_sets.setdefault(parent, set()).add(code)
    cities = {parent: "|".join(sorted(codes)) for parent, codes in city_sets.items()}
    insee_codes = sorted(set(own.dropna()) | set(cities))
    return _Communes(
        postal_codes=pd.Index(list(by_postal), dtype=object),
        postal_candidates=pa.array(["|".join(codes) for codes in by_postal.values()], pa.string()),
        insee_codes=pd.Index(insee_codes, dtype=object),
        city_candidates=pa.array([cities.get(code, "") for code in insee_codes], pa.string()),
        pair_keys=pd.Index(list(resolved), dtype=object),
        pair_insee=pa.array(["|".join(codes) for codes in resolved.values()], pa.string()),
    )


@dataclass
class _Location:
    postal: pa.Array
    insee: pa.Array
    ambiguous: np.ndarray
    candidates: pa.Array
    problems: dict[tuple[str, str], np.ndarray]
    repairs: dict[str, int]


@dataclass
class _Codes:
    """A code column checked once per distinct value; ``index`` maps rows to distinct values."""

    code: pa.Array  # normalised ("" when empty or not known)
    index: np.ndarray
    malformed: np.ndarray
    unknown: np.ndarray
    padded: np.ndarray


def _lookup(values: pa.Array, known: pd.Index) -> np.ndarray:
    """Position of each value in ``known`` (-1 when absent). A pandas Index keeps its hash
    table between calls, where Arrow's is_in would rebuild one per call."""
    return known.get_indexer(values.to_numpy(zero_copy_only=False))


def _normalise_code(values: pa.Array, known: pd.Index, pattern: str) -> _Codes:
    """A code checked against ``known``; a 4-digit code gets its lost leading zero back only
    when the result exists (a spreadsheet read 01400 as the number 1400)."""
    distinct, index = _distinct(values)
    text = pc.utf8_upper(pc.replace_substring_regex(_clean(distinct), r"\s+", ""))
    empty = _is_empty(text)
    well_formed = _bools(pc.match_substring_regex(text, pattern))
    four = _bools(pc.match_substring_regex(text, r"^\d{4}$"))
    padded_text = pc.binary_join_element_wise("0", text, "")
    known_as_is = _lookup(text, known) >= 0
    known_padded = four & ~known_as_is & (_lookup(padded_text, known) >= 0)
    code = pc.if_else(pa.array(known_padded), padded_text, pc.if_else(pa.array(known_as_is), text, ""))
    malformed = ~empty & ~well_formed & ~four
    unknown = ~empty & ~malformed & ~known_as_is & ~known_padded
    return _Codes(code, index, malformed, unknown, known_padded)


def _resolve_location(postal_values: pa.Array, insee_values: pa.Array) -> _Location:
    table = _communes()
    postal = _normalise_code(postal_values, table.postal_codes, r"^\d{5}$")
    insee = _normalise_code(insee_values, table.insee_codes, r"^(?:\d{5}|2[AB]\d{3})$")
    # Work on the distinct (postal, INSEE) pairs: a few tens of thousands, not a million.
    width = max(len(insee.code), 1)
    pair_codes, inverse = np.unique(postal.index.astype(np.int64) * width + insee.index, return_inverse=True)
    pair_postal = postal.code.take(pa.array(pair_codes // width))
    pair_insee_code = insee.code.take(pa.array(pair_codes % width))
    has_postal, has_insee = ~_is_empty(pair_postal), ~_is_empty(pair_insee_code)

    # Both known: the postal code must serve the commune (for a city code, it names the
    # arrondissement).
    found = _lookup(pc.binary_join_element_wise(pair_postal, pair_insee_code, "|"), table.pair_keys)
    both = has_postal & has_insee
    mismatch = both & (found < 0)
    from_pair = table.pair_insee.take(pa.array(np.maximum(found, 0)))
    # Postal code only: it may serve several communes, and the ambiguity stays explicit.
    from_postal = table.postal_candidates.take(pa.array(np.maximum(_lookup(pair_postal, table.postal_codes), 0)))
    # Commune code only: a city code (Paris 75056…) stands for its arrondissements.
    city = table.city_candidates.take(pa.array(np.maximum(_lookup(pair_insee_code, table.insee_codes), 0)))
    from_insee = pc.if_else(pc.equal(city, ""), pair_insee_code, city)
    candidates = pc.if_else(
        pa.array(both & ~mismatch),
        from_pair,
        pc.if_else(pa.array(has_insee & ~has_postal), from_insee, pc.if_else(pa.array(has_postal & ~has_insee), from_postal, "")),
    )
    ambiguous = _bools(pc.match_substring(candidates, "|"))
    resolved = pc.if_else(pa.array(ambiguous), "", candidates)

    rows = pa.array(inverse.reshape(-1))
    postal_bad, postal_unknown = postal.malformed[postal.index], postal.unknown[postal.index]
    insee_bad, insee_unknown = insee.malformed[insee.index], insee.unknown[insee.index]
    row_mismatch = mismatch[inverse.reshape(-1)]
    nothing = (~has_postal & ~has_insee)[inverse.reshape(-1)]
    missing = nothing & ~postal_bad & ~postal_unknown & ~insee_bad & ~insee_unknown
    problems = {
        ("postal_code", "invalid_postal_code"): postal_bad,
        ("postal_code", "unknown_postal_code"): postal_unknown,
        ("insee_com", "invalid_insee_code"): insee_bad,
        ("insee_com", "unknown_insee_code"): insee_unknown,
        ("postal_code", "postal_insee_mismatch"): row_mismatch,
        ("postal_code", "missing_location"): missing,
    }
    repairs = {
        "postal_code_leading_zero": int(postal.padded[postal.index].sum()),
        "insee_com_leading_zero": int(insee.padded[insee.index].sum()),
    }
    return _Location(
        postal=pair_postal.take(rows),
        insee=resolved.take(rows),
        ambiguous=ambiguous[inverse.reshape(-1)],
        candidates=candidates.take(rows),
        problems=problems,
        repairs=repairs,
    )


# ------------------------------------------------------------------------ result


@dataclass
class IngestResult:
    """Valid supporters, the quarantine report, and the accounting of every row."""

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict[str, int]
    reasons: dict[str, int]
    repairs: dict[str, int]
    rows: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def repaired(self) -> int:
        return int(sum(self.repairs.values()))

    @property
    def quarantined_share(self) -> float:
        read = self.counts.get("rows_read", 0)
        return self.counts.get("quarantined", 0) / read if read else 0.0

    def stop_reason(self, max_share: float = DEFAULT_MAX_QUARANTINE_SHARE) -> str | None:
        """Why the night must stop before publishing, or None."""
        if self.quarantined_share <= max_share:
            return None
        top = ", ".join(f"{reason} ×{count}" for reason, count in list(self.reasons.items())[:3])
        return (
            f"{self.info.get('source', 'supporter file')}: {self.counts['quarantined']} of {self.counts['rows_read']} rows "
            f"quarantined ({self.quarantined_share:.0%} > {max_share:.0%}; most frequent: {top}). The export looks broken: "
            "run `matinale validate` on it, fix the file and rerun. Nothing was published."
        )

    def summary(self) -> dict[str, Any]:
        """Counts only, JSON-ready: what is stored with the run and printed by validate."""
        return {
            **self.counts,
            "repaired": self.repaired,
            "repairs": dict(self.repairs),
            "reasons": dict(self.reasons),
            "problems_by_column": self.info.get("problems_by_column", {}),
            "quarantined_share": round(self.quarantined_share, 6),
            "blank_rows": self.info.get("blank_rows", 0),
            "minors": self.info.get("minors", 0),
            "ambiguous_communes": self.info.get("ambiguous_communes", 0),
            "suppression": self.info.get("suppression", {}),
            "consent": self.info.get("consent", {}),
            "source": {
                key: self.info.get(key)
                for key in ("source", "format", "encoding", "delimiter", "columns", "ignored_columns", "reference_date")
            },
        }

    def quarantine_csv(self) -> bytes:
        """The report as UTF-8 CSV with a BOM (Excel opens it right); formula-safe cells."""
        frame = self.quarantine.copy()
        for column in ("source_file", "column", "value", "reason", "hint"):
            frame[column] = frame[column].astype("str").map(neutralise_formula)
        return frame.to_csv(index=False, lineterminator="\n").encode("utf-8-sig")


class _Problems:
    """Every (column, reason, rows) found, in the order checks run."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.found: list[tuple[str, str, np.ndarray]] = []

    def add(self, column: str, reason: str, mask: np.ndarray) -> None:
        if mask.any():
            self.found.append((column, reason, np.asarray(mask, dtype=bool)))

    def any_row(self) -> np.ndarray:
        result = np.zeros(self.rows, dtype=bool)
        for _, _, mask in self.found:
            result |= mask
        return result


def _key_codes(values: pa.Array) -> np.ndarray:
    """A code per row, equal codes for equal values (one hash pass, no sorting)."""
    return pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)


def _duplicate_groups(keys: list[tuple[np.ndarray, np.ndarray]], rows: int) -> np.ndarray:
    """Group label per row: rows sharing any usable key code, transitively, share a label."""
    links: list[tuple[np.ndarray, np.ndarray]] = []
    for codes, usable in keys:
        positions = np.flatnonzero(usable)
        index = codes[positions]
        if not index.size or np.bincount(index).max() < 2:
            continue  # no value repeats: nothing to link
        # Link each row to the first row holding the same value.
        order = np.argsort(index, kind="stable")
        sorted_index = index[order]
        starts = np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])
        first_of = np.repeat(positions[order][starts], np.diff(np.r_[starts, sorted_index.size]))
        links.append((positions[order], first_of))
    if not links:
        return np.arange(rows, dtype=np.int64)
    return _components(np.concatenate([a for a, _ in links]), np.concatenate([b for _, b in links]), rows)


def _components(source: np.ndarray, target: np.ndarray, rows: int) -> np.ndarray:
    """Connected components of the links as the smallest row of each (label propagation
    with pointer jumping: a few numpy passes, and no scipy import in the ingest task)."""
    labels = np.arange(rows, dtype=np.int64)
    while True:
        lowest = np.minimum(labels[source], labels[target])
        updated = labels.copy()
        np.minimum.at(updated, source, lowest)
        np.minimum.at(updated, target, lowest)
        while True:  # each row points at its label's label until they agree
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, labels):
            return labels
        labels = updated


def _in_parallel(jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent column checks on two threads: Arrow kernels release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def _ages(birth: _Dates, stated: np.ndarray, reference: date) -> np.ndarray:
    before_birthday = (birth.month > reference.month) | ((birth.month == reference.month) & (birth.day > reference.day))
    from_birth = reference.year - birth.year - before_birthday.astype(np.int64)
    return np.where(birth.ok, from_birth, stated)


def _quarantine_frame(raw: RawSupporters, problems: _Problems) -> pd.DataFrame:
    parts = []
    for order, (column, reason, mask) in enumerate(problems.found):
        if reason != "wrong_field_count":
            mask = mask & ~raw.ragged  # a shifted row's cells mean nothing
        rows = np.flatnonzero(mask)
        if not rows.size:
            continue
        if reason == "wrong_field_count":
            shown = [f"{found} champs au lieu de {raw.expected_fields}" for found in raw.field_counts[rows]]
        else:
            cells = raw.columns[column].take(pa.array(rows)).to_pylist()
            shown = [mask_cell(column, value) for value in cells]
        parts.append(
            pd.DataFrame(
                {
                    "line": raw.lines[rows],
                    "_order": order,
                    "column": column,
                    "value": pd.array(shown, dtype="str"),
                    "reason": reason,
                    "hint": REASONS[reason],
                }
            )
        )
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype="int64" if name == "line" else "str") for name in _QUARANTINE_COLUMNS})
    frame = pd.concat(parts, ignore_index=True).sort_values(["line", "_order"], kind="stable")
    frame.insert(0, "source_file", raw.source)
    return frame[list(_QUARANTINE_COLUMNS)].reset_index(drop=True)


def _first_where(label: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each run of equal ``label`` (rows in file order), the position of its first
    ``wanted`` row, or of its first row when none is."""
    order = np.lexsort((np.arange(label.size), ~wanted, label))
    starts = np.flatnonzero(np.r_[True, label[order][1:] != label[order][:-1]])
    return order[starts]


def _merge_duplicates(frame: pd.DataFrame, groups: np.ndarray, members: np.ndarray) -> pd.DataFrame:
    """Fill each survivor's empty fields from its duplicates (first non-empty in file
    order); donor/volunteer if any says so; counts and consent date at their maximum; the
    place (postal code, commune, ambiguity) as one unit from the first row naming a commune.

    ``frame`` holds survivors and merged rows in file order; a group's first row survives.
    """
    involved = np.flatnonzero(np.isin(groups, np.unique(groups[members])))
    order = np.argsort(groups[involved], kind="stable")
    rows = involved[order]  # grouped, file order within each group
    label = groups[rows]
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
    survivors = rows[starts]
    updates: dict[str, np.ndarray] = {}
    for name in ("first_name", "last_name", "email", "phone", "legal_basis", "interests", "joined_on"):
        values = frame[name].to_numpy(dtype=object)[rows]
        updates[name] = values[_first_where(label, values != "")]
    named = rows[_first_where(label, frame["insee_com"].to_numpy(dtype=object)[rows] != "")]
    for name in ("postal_code", "insee_com", "insee_candidates", "commune_ambiguous"):
        updates[name] = frame[name].to_numpy()[named]
    for name in ("donor", "volunteer"):
        updates[name] = np.logical_or.reduceat(frame[name].to_numpy(dtype=bool)[rows], starts)
    for name in COUNT_FIELDS:
        updates[name] = np.maximum.reduceat(frame[name].to_numpy(dtype=np.int64)[rows], starts)
    dates = frame["consent_date"].to_numpy(dtype=object)[rows].astype("U10")
    latest = np.lexsort((dates, label))  # within each group, the latest date comes last
    ends = np.r_[starts[1:], label.size] - 1
    updates["consent_date"] = dates[latest[ends]].astype(object)
    for name, values in updates.items():
        frame.loc[survivors, name] = values
    return frame


def validate_supporters(raw: RawSupporters, *, reference_date: date, suppression: SuppressionList | None = None) -> IngestResult:
    """Check and normalise every value, then sort every row into one bucket."""
    rows = len(raw)
    cols = raw.columns
    problems = _Problems(rows)
    repairs: Counter[str] = Counter()
    problems.add("", "wrong_field_count", raw.ragged)

    # A column the file does not have is empty everywhere: skip its checks.
    present = set(raw.present)
    none = np.zeros(rows, dtype=bool)
    no_count = (np.zeros(rows, dtype=np.int64), ~none, none)
    age_pattern = r"(?i)^(?P<n>\d{1,3})(?:[.,]0+)?\s*(?:ans?)?$"
    count_pattern = r"^(?P<n>\d{1,9})(?:[.,]0+)?$"

    def identity() -> tuple[pa.Array, np.ndarray]:
        supporter_id = _clean(cols["supporter_id"])
        return supporter_id, _key_codes(supporter_id)

    def contact(normalise: Callable[[pa.Array], Any], name: str) -> tuple[Any, np.ndarray]:
        result = normalise(cols[name])
        return result, _key_codes(result.values)

    jobs: dict[str, Callable[[], Any]] = {
        "email": lambda: contact(normalise_emails, "email"),
        "id": identity,
        "location": lambda: _resolve_location(cols["postal_code"], cols["insee_com"]),
        "phone": lambda: contact(normalise_phones, "phone"),
        "interests": lambda: _normalise_interests(cols["interests"]),
    }
    for name in DATE_FIELDS:
        jobs[name] = (lambda n=name: _parse_dates(cols[n], reference_date)) if name in present else (lambda: _no_dates(rows))
    jobs["age"] = (lambda: _parse_counts(cols["age"], age_pattern)) if "age" in present else (lambda: no_count)
    for name in COUNT_FIELDS:
        jobs[name] = (lambda n=name: _parse_counts(cols[n], count_pattern)) if name in present else (lambda: no_count)
    for name in BOOLEAN_FIELDS:
        jobs[name] = (lambda n=name: _parse_booleans(cols[n])) if name in present else (lambda: (none, none))
    done = _in_parallel(jobs)

    supporter_id, id_codes = done["id"]
    problems.add("supporter_id", "missing_supporter_id", _is_empty(supporter_id))
    problems.add("supporter_id", "mangled_supporter_id", _bools(pc.match_substring_regex(supporter_id, r"^\d+(?:[.,]\d+)?[eE]\+?\d+$")))

    birth: _Dates = done["birth_date"]
    stated, age_empty, age_unreadable = done["age"]
    has_birth = ~birth.empty
    problems.add("birth_date", "unreadable_date", birth.unreadable)
    problems.add("birth_date", "impossible_date", birth.impossible)
    problems.add("age", "unreadable_age", ~has_birth & age_unreadable)
    problems.add("age", "missing_age", ~has_birth & age_empty)
    ages = _ages(birth, stated, reference_date)
    known_age = birth.ok | (~has_birth & ~age_empty & ~age_unreadable)
    out_of_range = known_age & ((ages < MIN_AGE) | (ages > MAX_AGE))
    problems.add("birth_date", "age_out_of_range", out_of_range & has_birth)
    problems.add("age", "age_out_of_range", out_of_range & ~has_birth)

    email, email_codes = done["email"]
    problems.add("email", "invalid_email", ~email.ok)
    phone, phone_codes = done["phone"]
    problems.add("phone", "invalid_phone", ~phone.ok)
    repairs["phone_leading_zero"] += int(phone.repaired.sum())

    location: _Location = done["location"]
    for (column, reason), mask in location.problems.items():
        problems.add(column, reason, mask)
    repairs.update(location.repairs)

    booleans: dict[str, np.ndarray] = {}
    for name in BOOLEAN_FIELDS:
        booleans[name], unreadable = done[name]
        problems.add(name, "unreadable_boolean", unreadable)
    counts: dict[str, np.ndarray] = {}
    for name in COUNT_FIELDS:
        counts[name], _, unreadable = done[name]
        problems.add(name, "unreadable_count", unreadable)
    dates = {name: done[name] for name in ("consent_date", "joined_on")}
    for name, parsed in dates.items():
        problems.add(name, "unreadable_date", parsed.unreadable)
        problems.add(name, "impossible_date", parsed.impossible)

    # Buckets, in order: quarantined, suppressed, merged, valid.
    quarantined = problems.any_row()
    readable = ~raw.ragged
    groups = _duplicate_groups(
        [
            (id_codes, readable & ~_is_empty(supporter_id)),
            (email_codes, readable & ~_is_empty(email.values)),
            (phone_codes, readable & ~_is_empty(phone.values)),
        ],
        rows,
    )
    on_list = (suppression or SuppressionList()).matches(email.values, phone.values) & readable
    group_on_list = np.bincount(groups, weights=on_list, minlength=rows) > 0
    suppressed = ~quarantined & group_on_list[groups]
    remaining = ~quarantined & ~suppressed
    if groups[-1] == rows - 1 and np.array_equal(groups, np.arange(rows)):
        survivors = remaining  # nobody shares a key: the common case
    else:
        candidates = np.flatnonzero(remaining)
        _, first = np.unique(groups[candidates], return_index=True)
        survivors = np.zeros(rows, dtype=bool)
        survivors[candidates[first]] = True
    merged = remaining & ~survivors

    # An opt-out anywhere in a group (a quarantined twin included) is an opt-out.
    consents = {}
    for name in CONSENT_FIELDS:
        refusals = np.bincount(groups, weights=~booleans[name], minlength=rows)
        consents[name] = booleans[name] & (refusals[groups] == 0)

    keep = np.flatnonzero(survivors | merged)
    text = pa.table(
        {
            "supporter_id": supporter_id,
            "first_name": pc.utf8_trim_whitespace(cols["first_name"]),
            "last_name": pc.utf8_trim_whitespace(cols["last_name"]),
            "email": email.values,
            "phone": phone.values,
            "birth_date": birth.iso,
            "consent_date": dates["consent_date"].iso,
            "joined_on": dates["joined_on"].iso,
            "legal_basis": pc.utf8_lower(pc.utf8_trim_whitespace(cols["legal_basis"])),
            "interests": done["interests"],
            "postal_code": location.postal,
            "insee_com": location.insee,
            "insee_candidates": location.candidates,
        }
    )
    if keep.size != rows:
        text = text.take(pa.array(keep))
    frame = text.to_pandas(types_mapper=_STRING_TYPES.get)
    frame["age"] = ages[keep].astype(np.int64)
    frame["commune_ambiguous"] = location.ambiguous[keep]
    for name in BOOLEAN_FIELDS:
        frame[name] = (consents[name] if name in consents else booleans[name])[keep]
    for name in COUNT_FIELDS:
        frame[name] = counts[name][keep].astype(np.int64)
    if merged.any():
        frame = _merge_duplicates(frame, groups[keep], merged[keep])
    valid = frame.loc[survivors[keep]].reset_index(drop=True)
    ordered = [
        "supporter_id", "first_name", "last_name", "email", "phone", "birth_date", "age", "postal_code", "insee_com",
        "commune_ambiguous", "insee_candidates", *CONSENT_FIELDS, "consent_date", "legal_basis", "joined_on",
        "interests", *COUNT_FIELDS, "donor", "volunteer",
    ]
    valid = valid[ordered]

    bucket = np.select([quarantined, suppressed, merged], [1, 2, 3], default=0)
    quarantine = _quarantine_frame(raw, problems)
    accounting = {
        "rows_read": rows,
        "valid": int(survivors.sum()),
        "quarantined": int(quarantined.sum()),
        "duplicates_merged": int(merged.sum()),
        "suppressed": int(suppressed.sum()),
    }
    reasons = quarantine["reason"].value_counts().to_dict() if len(quarantine) else {}
    by_column = quarantine["column"].replace("", "(ligne)").value_counts().to_dict() if len(quarantine) else {}
    suppression_info = {
        "entries": len(suppression) if suppression else 0,
        "files": len(suppression.files) if suppression else 0,
        "matched_rows": int((on_list & ~quarantined).sum()),
        "suppressed_rows": accounting["suppressed"],
    }
    info = {
        "source": raw.source,
        "format": raw.format,
        "encoding": raw.encoding,
        "delimiter": raw.delimiter,
        "columns": list(raw.present),
        "ignored_columns": list(raw.ignored_columns),
        "blank_rows": raw.blank_rows,
        "reference_date": reference_date.isoformat(),
        "minors": int((valid["age"] < 18).sum()),
        "ambiguous_communes": int(valid["commune_ambiguous"].sum()),
        "problems_by_column": {str(k): int(v) for k, v in by_column.items()},
        "suppression": suppression_info,
        "consent": compliance_counts(valid),
    }
    return IngestResult(
        valid=valid,
        quarantine=quarantine,
        counts=accounting,
        reasons={str(k): int(v) for k, v in reasons.items()},
        repairs={k: int(v) for k, v in sorted(repairs.items()) if v},
        rows=pd.DataFrame({"line": raw.lines, "bucket": pd.Categorical.from_codes(bucket, categories=list(_BUCKETS))}),
        info=info,
    )


def ingest_supporters(path: Path, *, reference_date: date, suppression: SuppressionList | None = None) -> IngestResult:
    """Read, validate, suppress and deduplicate the supporter file at ``path``.

    ``reference_date`` is the day ages are computed on (the edition date in the night).
    Raises a subclass of ``IngestError`` when the file as a whole cannot be used.
    """
    return validate_supporters(read_supporters(Path(path)), reference_date=reference_date, suppression=suppression)
