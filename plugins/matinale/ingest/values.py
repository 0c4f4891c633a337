"""Parse the values of a column at once: dates (ISO, dd/mm/yyyy, dd/mm/yy), ages (``45 ans``),
counts, yes/no booleans, interests, and postal and INSEE codes (resolved to communes through
``matinale.geo``). E-mails and phones are normalised by ``matinale.contacts``.

Everything is columnar (pyarrow.compute and numpy), checked once per distinct value where a
column repeats itself; each parser returns the values and the masks of rows it cannot read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from matinale.contacts import empty_strings
from matinale.geo import code_positions, commune_index, match_communes

_TRUE = ("oui", "o", "vrai", "true", "yes", "y", "1", "x")
_FALSE = ("non", "n", "faux", "false", "no", "0", "")


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
_FRENCH_DATE = (
    r"^(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4}|\d{2})(?: \d{1,2}:\d{2}(?::\d{2})?)?$"
)


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
            is_iso,
            _ints(pc.fill_null(pc.struct_field(iso, key), "")),
            _ints(pc.fill_null(pc.struct_field(french, key), "")),
        )
    year, month, day = parts["y"], parts["m"], parts["d"]
    # Two-digit years up to this year's are 20yy, later ones 19yy.
    short_year = is_french & (
        pc.utf8_length(pc.fill_null(pc.struct_field(french, "y"), "")).to_numpy(
            zero_copy_only=False
        )
        == 2
    )
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


def _ages(birth: _Dates, stated: np.ndarray, reference: date) -> np.ndarray:
    before_birthday = (birth.month > reference.month) | (
        (birth.month == reference.month) & (birth.day > reference.day)
    )
    from_birth = reference.year - birth.year - before_birthday.astype(np.int64)
    return np.where(birth.ok, from_birth, stated)


# ---------------------------------------------------------------- postal and INSEE codes


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


def _normalise_code(values: pa.Array, known: pd.Index, pattern: str) -> _Codes:
    """A code checked against ``known``; a 4-digit code gets its lost leading zero back only
    when the result exists (a spreadsheet read 01400 as the number 1400)."""
    distinct, index = _distinct(values)
    text = pc.utf8_upper(pc.replace_substring_regex(_clean(distinct), r"\s+", ""))
    empty = _is_empty(text)
    well_formed = _bools(pc.match_substring_regex(text, pattern))
    four = _bools(pc.match_substring_regex(text, r"^\d{4}$"))
    padded_text = pc.binary_join_element_wise("0", text, "")
    known_as_is = code_positions(text, known) >= 0
    known_padded = four & ~known_as_is & (code_positions(padded_text, known) >= 0)
    code = pc.if_else(
        pa.array(known_padded), padded_text, pc.if_else(pa.array(known_as_is), text, "")
    )
    malformed = ~empty & ~well_formed & ~four
    unknown = ~empty & ~malformed & ~known_as_is & ~known_padded
    return _Codes(code, index, malformed, unknown, known_padded)


def _resolve_location(postal_values: pa.Array, insee_values: pa.Array) -> _Location:
    table = commune_index()
    postal = _normalise_code(postal_values, table.postal_codes, r"^\d{5}$")
    insee = _normalise_code(insee_values, table.insee_codes, r"^(?:\d{5}|2[AB]\d{3})$")
    # Work on the distinct (postal, INSEE) pairs: a few tens of thousands, not a million.
    width = max(len(insee.code), 1)
    pair_codes, inverse = np.unique(
        postal.index.astype(np.int64) * width + insee.index, return_inverse=True
    )
    pair_postal = postal.code.take(pa.array(pair_codes // width))
    pair_insee_code = insee.code.take(pa.array(pair_codes % width))
    match = match_communes(pair_postal, pair_insee_code)

    rows = pa.array(inverse.reshape(-1))
    postal_bad, postal_unknown = postal.malformed[postal.index], postal.unknown[postal.index]
    insee_bad, insee_unknown = insee.malformed[insee.index], insee.unknown[insee.index]
    row_mismatch = match.mismatch[inverse.reshape(-1)]
    nothing = (_is_empty(pair_postal) & _is_empty(pair_insee_code))[inverse.reshape(-1)]
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
        insee=match.insee.take(rows),
        ambiguous=match.ambiguous[inverse.reshape(-1)],
        candidates=match.candidates.take(rows),
        problems=problems,
        repairs=repairs,
    )
