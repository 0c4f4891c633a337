"""Ingest: each quirk of real exports with a small file built here, and the row accounting."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matinale import contacts
from matinale.ingest import (
    ALIASES,
    DuplicateColumnError,
    EmptyFileError,
    IngestResult,
    MissingColumnError,
    UnreadableFileError,
    canonical_header,
    ingest_supporters,
    read_supporters,
)
from matinale.privacy import SuppressionError, load_suppression

ON = date(2026, 11, 24)
HEADER = "supporter_id,first_name,last_name,email,phone,birth_date,postal_code,insee_com,consent_email,consent_sms"


def _row(
    sid: str = "S1",
    *,
    first: str = "Jeanne",
    last: str = "Martin",
    email: str = "",
    phone: str = "",
    birth: str = "12/03/1950",
    postal: str = "75011",
    insee: str = "",
    consent_email: str = "oui",
    consent_sms: str = "non",
) -> str:
    return ",".join(
        [sid, first, last, email, phone, birth, postal, insee, consent_email, consent_sms]
    )


def _write(
    tmp_path: Path, text: str, *, name: str = "supporters.csv", encoding: str = "utf-8"
) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _ingest(tmp_path: Path, rows: list[str], *, header: str = HEADER, **kwargs) -> IngestResult:
    path = _write(tmp_path, header + "\n" + "".join(r + "\n" for r in rows))
    return ingest_supporters(path, reference_date=ON, **kwargs)


def _problems(result: IngestResult) -> list[tuple[int, str, str]]:
    return [(int(r.line), r.column, r.reason) for r in result.quarantine.itertuples()]


def _balanced(result: IngestResult) -> bool:
    c = result.counts
    return (
        c["rows_read"] == c["valid"] + c["quarantined"] + c["duplicates_merged"] + c["suppressed"]
    )


# ------------------------------------------------------------------ headers


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Date de naissance", "birth_date"),
        ("date_naissance", "birth_date"),
        ("DATE-DE-NAISSANCE", "birth_date"),
        ("Courriel", "email"),
        ("E-mail", "email"),
        ("Adresse e-mail", "email"),
        ("Code postal", "postal_code"),
        ("CP", "postal_code"),
        ("Téléphone", "phone"),
        ("Portable", "phone"),
        ("N° de téléphone", "phone"),
        ("Prénom", "first_name"),
        (" Identifiant ", "supporter_id"),
        ("Âge", "age"),
        ("Code INSEE", "insee_com"),
        ("Base légale", "legal_basis"),
        ("Bénévole", "volunteer"),
    ],
)
def test_one_alias_table_maps_french_and_english_headers(header: str, field: str) -> None:
    assert ALIASES[canonical_header(header)] == field


def test_french_headers_map_to_the_contract(tmp_path: Path) -> None:
    header = "Identifiant;Prénom;Nom;Courriel;Portable;Date de naissance;CP;Consentement SMS;Colonne inconnue"
    path = _write(
        tmp_path, header + "\nS1;Jeanne;Martin;j@example.org;0612345678;12/03/1950;75011;oui;x\n"
    )
    result = ingest_supporters(path, reference_date=ON)
    row = result.valid.iloc[0]
    assert (row["supporter_id"], row["email"], row["phone"], row["postal_code"]) == (
        "S1",
        "j@example.org",
        "+33612345678",
        "75011",
    )
    assert bool(row["consent_sms"]) and not bool(
        row["consent_email"]
    )  # a missing consent column means no
    assert result.info["ignored_columns"] == ["Colonne inconnue"]


def test_two_columns_for_one_field_stop_the_night(tmp_path: Path) -> None:
    path = _write(tmp_path, "id,Courriel,E-mail\nS1,a@example.org,b@example.org\n")
    with pytest.raises(DuplicateColumnError, match=r"'Courriel'.*'E-mail'.*email"):
        ingest_supporters(path, reference_date=ON)


def test_missing_id_column_stops_without_echoing_the_first_line(tmp_path: Path) -> None:
    # No header at all: the first line is a person, and must not appear in the message.
    path = _write(tmp_path, "Jeanne,Martin,jeanne.martin@example.org\nPaul,Durand,p@example.org\n")
    with pytest.raises(MissingColumnError, match="supporter_id") as caught:
        ingest_supporters(path, reference_date=ON)
    assert "Jeanne" not in str(caught.value) and "jeanne.martin" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", EmptyFileError),
        (b"supporter_id,email\n", EmptyFileError),
        (b"supporter_id;email\n;;\n;\n", EmptyFileError),
        (b"PK\x03\x04 an xlsx workbook", UnreadableFileError),
        (b"supporter_id\x00,email\x00\n", UnreadableFileError),
    ],
)
def test_file_level_errors_are_specific(
    tmp_path: Path, content: bytes, error: type[Exception]
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(error, match="export.csv"):
        ingest_supporters(path, reference_date=ON)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="not found"):
        ingest_supporters(tmp_path / "absent.csv", reference_date=ON)


# ------------------------------------------------------------ reading quirks


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252"), ("utf-16", "utf-16")],
)
def test_encodings_are_detected_by_content(tmp_path: Path, encoding: str, expected: str) -> None:
    text = "Identifiant;Prénom;Nom;Code postal;Date de naissance\nS1;Hélène;Dupré-Œuvray;75011;12/03/1950\n"
    path = _write(tmp_path, text, name="export.txt", encoding=encoding)  # the name says nothing
    result = ingest_supporters(path, reference_date=ON)
    assert result.info["encoding"] == expected
    assert (result.valid.loc[0, "first_name"], result.valid.loc[0, "last_name"]) == (
        "Hélène",
        "Dupré-Œuvray",
    )


def test_cp1252_is_detected_even_when_the_first_accent_is_far_down(tmp_path: Path) -> None:
    rows = [_row(f"S{i}") for i in range(1, 1500)]  # ~75 KB of plain ASCII before the accent
    rows.append(_row("S9999", first="Hélène"))
    path = _write(tmp_path, HEADER + "\n" + "\n".join(rows) + "\n", encoding="cp1252")
    result = ingest_supporters(path, reference_date=ON)
    assert result.info["encoding"] == "cp1252"
    assert result.valid["first_name"].iloc[-1] == "Hélène"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_separators_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    header = delimiter.join(["supporter_id", "Nom", "CP", "Date de naissance", "Courriel"])
    line = (
        delimiter.join(["S1", "Martin, Jeanne", "75011", "12/03/1950", "j@example.org"])
        if delimiter != ","
        else 'S1,"Martin, Jeanne",75011,12/03/1950,j@example.org'
    )
    result = ingest_supporters(_write(tmp_path, f"{header}\n{line}\n"), reference_date=ON)
    assert result.info["delimiter"] == delimiter
    assert result.valid.loc[0, "last_name"] == "Martin, Jeanne"


def test_a_comma_inside_a_semicolon_header(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Nom, prénom;Courriel;Identifiant;CP;Âge\nMartin, Jeanne;j@example.org;S1;75011;45\n",
    )
    result = ingest_supporters(path, reference_date=ON)
    assert result.info["delimiter"] == ";" and result.valid.loc[0, "email"] == "j@example.org"


def test_excel_sep_line_and_crlf(tmp_path: Path) -> None:
    path = _write(tmp_path, "sep=;\r\nsupporter_id;CP;Âge\r\nS1;75011;45\r\nS2;75011;abc\r\n")
    result = ingest_supporters(path, reference_date=ON)
    assert result.info["delimiter"] == ";"
    assert _problems(result) == [
        (4, "age", "unreadable_age")
    ]  # sep=, header, S1, then S2 on line 4


def test_quoted_separators_and_newlines_keep_line_numbers(tmp_path: Path) -> None:
    text = (
        "supporter_id;Nom;Adresse;CP;Âge\n"
        'S1;"Martin; Jeanne";"12 rue X\n3e étage\r\nporte B";75011;45\n'
        'S2;"Durand ""Paulo""";"";75011;200\n'
    )
    result = ingest_supporters(_write(tmp_path, text), reference_date=ON)
    assert result.valid.loc[0, "last_name"] == "Martin; Jeanne"
    assert _problems(result) == [(5, "age", "age_out_of_range")]  # S1 spans lines 2–4


def test_quoted_newlines_across_read_blocks(tmp_path: Path) -> None:
    # Over 1 MiB, so a multi-line value straddles Arrow's read blocks.
    rows = [f'S{i},"{"x" * 40}\n{"y" * 40}",75011,45' for i in range(1, 14001)]
    rows[-1] = 'S14000,"a\nb",75011,999'
    path = _write(tmp_path, "supporter_id,note,CP,age\n" + "\n".join(rows) + "\n")
    result = ingest_supporters(path, reference_date=ON)
    assert result.counts["rows_read"] == 14000
    assert _problems(result) == [(2 + 2 * 13999, "age", "age_out_of_range")]


def test_excel_apostrophe_on_codes(tmp_path: Path) -> None:
    result = _ingest(tmp_path, [_row("'S1", phone="'0612345678", postal="'01400", insee="'01001")])
    row = result.valid.iloc[0]
    assert (row["supporter_id"], row["phone"], row["postal_code"], row["insee_com"]) == (
        "S1",
        "+33612345678",
        "01400",
        "01001",
    )


def test_trailing_empty_columns(tmp_path: Path) -> None:
    # Header and rows padded (stray cells in the sheet), rows only, and a mix of both.
    both = "supporter_id;CP;Âge;;;\nS1;75011;45;;;\nS2;75011;46;;;\n"
    rows_only = "supporter_id;CP;Âge\nS1;75011;45;;\nS2;75011;46;;\n"
    mixed = "supporter_id;CP;Âge\nS1;75011;45\nS2;75011;46;;\nS3;75011;47\n"
    for text in (both, rows_only, mixed):
        result = ingest_supporters(_write(tmp_path, text), reference_date=ON)
        assert result.counts["quarantined"] == 0, text
        assert result.valid["age"].tolist()[:2] == [45, 46]


def test_a_row_with_extra_fields_is_quarantined_and_the_rest_goes_on(tmp_path: Path) -> None:
    text = "supporter_id,Nom,CP,Âge\nS1,Martin,75011,45\nS2,Martin, Jeanne,75011,46\nS3,Petit,75011,47\n"
    result = ingest_supporters(_write(tmp_path, text), reference_date=ON)
    assert result.valid["supporter_id"].tolist() == ["S1", "S3"]
    assert _problems(result) == [(3, "", "wrong_field_count")]
    assert result.quarantine.loc[0, "value"] == "5 champs au lieu de 4"


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    result = ingest_supporters(
        _write(tmp_path, "supporter_id;CP;Âge\nS1;75011;45\n;;\n\nS2;75011;46\n"), reference_date=ON
    )
    assert result.counts["rows_read"] == 2 and result.info["blank_rows"] == 2
    assert result.rows["line"].tolist() == [2, 5]


def test_parquet_with_numeric_codes(tmp_path: Path) -> None:
    table = pa.table(
        {
            "Identifiant": pa.array([1001, 1002, None], pa.int64()),
            "Code postal": pa.array([1400, 75011, 75011], pa.int64()),  # a number lost the zero
            "Âge": pa.array([45, 46, 47], pa.int32()),
            "Consentement e-mail": pa.array([True, False, None]),
            "Courriel": pa.array(["A@Example.org", None, "c@example.org"]),
        }
    )
    path = tmp_path / "export.bin"  # detected by content, not by name
    pq.write_table(table, path)
    result = ingest_supporters(path, reference_date=ON)
    assert result.info["format"] == "parquet"
    valid = result.valid.set_index("supporter_id")
    assert (
        valid.loc["1001", "postal_code"] == "01400"
        and valid.loc["1001", "email"] == "a@example.org"
    )
    assert bool(valid.loc["1001", "consent_email"]) and not bool(valid.loc["1002", "consent_email"])
    assert _problems(result) == [(3, "supporter_id", "missing_supporter_id")]
    assert result.repairs == {"postal_code_leading_zero": 1}


def test_codes_are_always_text(tmp_path: Path) -> None:
    result = _ingest(tmp_path, [_row("007", postal="01400", insee="01001", phone="0612345678")])
    valid = result.valid
    for column in ("supporter_id", "postal_code", "insee_com", "phone"):
        assert pd.api.types.is_string_dtype(valid[column]), column
    assert valid.loc[0, "supporter_id"] == "007"
    assert valid["age"].dtype == "int64" and valid["consent_email"].dtype == bool


def test_mangled_ids_are_quarantined(tmp_path: Path) -> None:
    result = _ingest(tmp_path, [_row('"1,23457E+11"'), _row("")])
    assert [p[2] for p in _problems(result)] == ["mangled_supporter_id", "missing_supporter_id"]


# -------------------------------------------------------------------- values


BIRTH_DATES = {
    "1950-03-12": 76,
    "12/03/1950": 76,
    "12/03/50": 76,  # 50 is after this year's 26: 1950
    "01/01/10": 16,  # 10 is up to 26: 2010
    "24/11/2010": 16,  # sixteenth birthday today
    "29/02/2000": 26,
    "12-03-1950": 76,
    "1950-03-12 00:00:00": 76,
}
BAD_BIRTH_DATES = {
    "31/02/1990": "impossible_date",
    "2001-02-30": "impossible_date",  # pyarrow's strptime would say 2001-03-02
    "29/02/2001": "impossible_date",
    "12/13/1990": "impossible_date",
    "12 mars 1950": "unreadable_date",
    "25/11/2010": "age_out_of_range",  # 15, the day before the sixteenth birthday
    "01/01/1900": "age_out_of_range",
}


def test_birth_dates_and_ages_on_the_reference_date(tmp_path: Path) -> None:
    rows = [_row(f"S{i}", birth=birth) for i, birth in enumerate([*BIRTH_DATES, *BAD_BIRTH_DATES])]
    result = _ingest(tmp_path, rows)
    assert result.valid["age"].tolist() == list(BIRTH_DATES.values())
    assert [p[2] for p in _problems(result)] == list(BAD_BIRTH_DATES.values())
    assert result.quarantine["column"].unique().tolist() == ["birth_date"]


def test_two_digit_years_after_this_year_are_last_century(tmp_path: Path) -> None:
    result = _ingest(tmp_path, [_row(birth="01/01/27")])
    assert result.valid.loc[0, "birth_date"] == "1927-01-01" and result.valid.loc[0, "age"] == 99


@pytest.mark.parametrize(
    ("stated", "age"), [("45", 45), ("45 ans", 45), ("45ANS", 45), ("16", 16), ("110", 110)]
)
def test_stated_ages(tmp_path: Path, stated: str, age: int) -> None:
    result = _ingest(tmp_path, [f"S1,75011,{stated}"], header="supporter_id,CP,Âge")
    assert result.valid.loc[0, "age"] == age


def test_bad_and_missing_ages(tmp_path: Path) -> None:
    result = _ingest(
        tmp_path,
        ["S1,75011,15", "S2,75011,111", "S3,75011,quarante", "S4,75011,"],
        header="supporter_id,CP,Âge",
    )
    assert [p[2] for p in _problems(result)] == [
        "age_out_of_range",
        "age_out_of_range",
        "unreadable_age",
        "missing_age",
    ]


def test_postal_and_insee_codes_against_the_commune_table(tmp_path: Path) -> None:
    result = _ingest(
        tmp_path,
        [
            _row("S1", postal="1400"),  # padded: 01400 exists (and serves several communes)
            _row("S2", postal="75011", insee="75056"),  # Paris as a whole → its 11th arrondissement
            _row("S3", postal="", insee="2a004"),  # Ajaccio, lower case
            _row("S4", postal="", insee="1001"),  # padded INSEE code
            _row("S5", postal="9999"),  # 09999 does not exist: not padded
            _row("S6", postal="75011", insee="01001"),
            _row("S7", postal="", insee=""),
            _row("S8", postal="ABCDE"),
        ],
    )
    valid = result.valid.set_index("supporter_id")
    assert valid.loc["S1", "postal_code"] == "01400" and bool(valid.loc["S1", "commune_ambiguous"])
    assert valid.loc["S1", "insee_com"] == "" and "01001" in valid.loc[
        "S1", "insee_candidates"
    ].split("|")
    assert valid.loc["S2", "insee_com"] == "75111"
    assert valid.loc["S3", "insee_com"] == "2A004"
    assert valid.loc["S4", "insee_com"] == "01001"
    assert result.repairs == {"insee_com_leading_zero": 1, "postal_code_leading_zero": 1}
    assert [p[2] for p in _problems(result)] == [
        "unknown_postal_code",
        "postal_insee_mismatch",
        "missing_location",
        "invalid_postal_code",
    ]


def test_emails_are_validated_and_normalised(tmp_path: Path) -> None:
    result = _ingest(
        tmp_path,
        [
            _row("S1", email=" Jeanne.Martin@Example.ORG "),
            _row("S2", email="jeanne@@example"),
            _row("S3", email="jé@example.org"),
        ],
    )
    assert result.valid.loc[0, "email"] == "jeanne.martin@example.org"
    assert [p[2] for p in _problems(result)] == ["invalid_email", "invalid_email"]


PHONES = {
    "06 12 34 56 78": "+33612345678",
    "06.12.34.56.78": "+33612345678",
    "+33 (0)6 12 34 56 78": "+33612345678",
    "0033612345678": "+33612345678",
    "612345678": "+33612345678",  # a spreadsheet dropped the 0
    "01 99 00 12 34": "+33199001234",
    "0690 12 34 56": "+590690123456",  # Guadeloupe
    "0262 12 34 56": "+262262123456",  # La Réunion
    "0696 12 34 56": "+596696123456",  # Martinique
    "0694 12 34 56": "+594694123456",  # Guyane
    "0639 12 34 56": "+262639123456",  # Mayotte
    "+590 690 12 34 56": "+590690123456",
    "08 00 12 34 56": "+33800123456",  # read by phonenumbers
    "+1 514 555 0123": "+15145550123",
}


def test_phones_become_e164() -> None:
    result = contacts.normalise_phones(pa.array(list(PHONES)))
    assert result.values.to_pylist() == list(PHONES.values())
    assert result.ok.all() and result.repaired.sum() == 1


def test_phone_spellings_of_one_number_are_one_person(tmp_path: Path) -> None:
    spellings = [phone for phone, e164 in PHONES.items() if e164 == "+33612345678"]
    result = _ingest(tmp_path, [_row(f"S{i}", phone=phone) for i, phone in enumerate(spellings)])
    assert result.counts["valid"] == 1 and result.counts["duplicates_merged"] == len(spellings) - 1
    assert result.repairs == {"phone_leading_zero": 1}


def test_phonenumbers_reads_each_odd_value_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    real = contacts._phonenumbers_e164

    def spy(values: list[str]) -> list[str]:
        seen.append(list(values))
        return real(values)

    monkeypatch.setattr(contacts, "_phonenumbers_e164", spy)
    rows = [_row(f"S{i}", phone="+44 20 7946 0000" if i % 2 else "0612") for i in range(1, 9)]
    rows.append(_row("S20", phone="06 12 34 56 78"))
    result = _ingest(tmp_path, rows)
    assert seen == [["+44 20 7946 0000", "0612"]]  # the common French one never reaches it
    # The British landline is readable but cannot get an SMS: quarantined for SMS only.
    assert result.reasons == {"invalid_phone": 4, "phone_landline": 4}


def test_booleans(tmp_path: Path) -> None:
    yes = ["oui", "O", "Vrai", "true", "YES", "y", "1", "x"]
    no = ["non", "n", "faux", "False", "no", "0", ""]
    rows = [_row(f"S{i}", consent_email=v) for i, v in enumerate(yes + no + ["peut-être"])]
    result = _ingest(tmp_path, rows)
    assert result.valid["consent_email"].tolist() == [True] * len(yes) + [False] * len(no)
    assert result.reasons == {"unreadable_boolean": 1}


def test_counts_and_interests(tmp_path: Path) -> None:
    header = "supporter_id,CP,Âge,evenements,partages_30j,Centres d'intérêt"
    result = _ingest(
        tmp_path,
        ["S1,75011,45,3,,Écologie ; Emploi|europe", "S2,75011,45,-1,2,", "S3,75011,45,4.0,x,"],
        header=header,
    )
    assert result.valid.loc[0, "events_attended"] == 3 and result.valid.loc[0, "shares_30d"] == 0
    assert result.valid.loc[0, "interests"] == "ecologie|emploi|europe"
    assert [(p[1], p[2]) for p in _problems(result)] == [
        ("events_attended", "unreadable_count"),
        ("shares_30d", "unreadable_count"),
    ]


# ---------------------------------------------------------------- duplicates


def test_duplicates_merge_with_the_most_restrictive_consent(tmp_path: Path) -> None:
    result = _ingest(
        tmp_path,
        [
            _row("S1", email="j@example.org", consent_email="oui", consent_sms="oui"),
            _row(
                "S2",
                email="J@Example.org ",
                phone="06 12 34 56 78",
                consent_email="oui",
                consent_sms="non",
            ),  # same e-mail
            _row(
                "S3", phone="+33612345678", consent_email="oui", consent_sms="oui"
            ),  # same phone as S2: same person
            _row("S4", email="p@example.org"),
            _row("S4", consent_email="", first=""),  # same id, consent missing = no
        ],
    )
    assert result.counts == {
        "rows_read": 5,
        "valid": 2,
        "quarantined": 0,
        "duplicates_merged": 3,
        "suppressed": 0,
    }
    valid = result.valid.set_index("supporter_id")
    assert bool(valid.loc["S1", "consent_email"]) and not bool(valid.loc["S1", "consent_sms"])
    assert valid.loc["S1", "phone"] == "+33612345678"  # filled from a duplicate
    assert not bool(valid.loc["S4", "consent_email"]) and valid.loc["S4", "first_name"] == "Jeanne"
    assert result.rows["bucket"].tolist() == ["valid", "merged", "merged", "valid", "merged"]


def test_duplicates_chain_through_email_and_phone(tmp_path: Path) -> None:
    # Row i shares its e-mail with one neighbour and its phone with the other: one person.
    rows = [
        _row(
            f"S{i}",
            email=f"e{i // 2}@example.org",
            phone=f"06 12 34 {(i + 1) // 2:02d} 00",
            consent_sms="oui",
        )
        for i in range(40, 0, -1)
    ]
    rows[7] = rows[7].replace(",oui", ",non")  # one opt-out in the middle of the chain
    result = _ingest(tmp_path, rows)
    assert result.counts["valid"] == 1 and result.counts["duplicates_merged"] == 39
    assert result.valid.loc[0, "supporter_id"] == "S40" and not bool(
        result.valid.loc[0, "consent_sms"]
    )


def test_an_opt_out_on_a_quarantined_twin_still_counts(tmp_path: Path) -> None:
    result = _ingest(
        tmp_path,
        [_row("S1", consent_email="oui"), _row("S1", consent_email="non", birth="31/02/1990")],
    )
    assert result.counts["valid"] == 1 and result.counts["quarantined"] == 1
    assert not bool(result.valid.loc[0, "consent_email"])


# --------------------------------------------------------------- suppression


def test_suppression_before_deduplication(tmp_path: Path) -> None:
    inbox = tmp_path / "suppression"
    inbox.mkdir()
    hashed_phone = hashlib.sha256(b"+33698765432").hexdigest()
    (inbox / "stop.txt").write_text(
        f"# STOP SMS et désinscriptions\nOPTOUT@example.org\n\n07 81 22 33 44\n{hashed_phone.upper()}\n",
        encoding="utf-8",
    )
    (inbox / "cnil.txt").write_text(
        hashlib.sha256(b"hashed@example.org").hexdigest() + "\n", encoding="utf-8"
    )
    suppression = load_suppression(inbox)
    result = _ingest(
        tmp_path,
        [
            _row("S1", email="optout@example.org"),
            _row("S1", email="autre@example.org"),  # the same person under another address
            _row("S2", phone="+33 7 81 22 33 44"),
            _row("S3", phone="06 98 76 54 32"),
            _row("S4", email="Hashed@Example.org"),
            _row(
                "S5", email="optout@example.org", birth="31/02/1990"
            ),  # invalid first: quarantined
            _row("S6", email="keep@example.org"),
        ],
        suppression=suppression,
    )
    assert result.counts == {
        "rows_read": 7,
        "valid": 1,
        "quarantined": 1,
        "duplicates_merged": 0,
        "suppressed": 5,
    }
    assert result.valid["supporter_id"].tolist() == ["S6"]
    assert result.info["suppression"] == {
        "entries": 4,
        "files": 2,
        "matched_rows": 4,
        "suppressed_rows": 5,
    }


def test_an_unreadable_suppression_line_stops_without_showing_it(tmp_path: Path) -> None:
    path = tmp_path / "stop.txt"
    path.write_text("ok@example.org\n06 12\n", encoding="utf-8")
    with pytest.raises(SuppressionError, match=r"stop.txt, line 2") as caught:
        load_suppression(path)
    assert "06 12" not in str(caught.value)


# ---------------------------------------------------- quarantine and privacy


def test_quarantine_report_masks_and_neutralises(tmp_path: Path) -> None:
    result = _ingest(
        tmp_path,
        [
            _row("S1", email="jeanne.martin@example", consent_email='=HYPERLINK("http://x")'),
            _row("S2", phone="+33 6 12", consent_sms="@SUM(1)"),
            _row("S3", last="=cmd|' /C calc'!A0", birth="31/02/1990"),
        ],
    )
    frame = pd.read_csv(
        io.BytesIO(result.quarantine_csv()), dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    assert list(frame.columns) == ["source_file", "line", "column", "value", "reason", "hint"]
    values = dict(
        zip(zip(frame["line"], frame["column"], strict=True), frame["value"], strict=True)
    )
    assert values[("2", "email")] == "j***@e***"
    assert values[("2", "consent_email")].startswith("'=")
    assert values[("3", "phone")].startswith("'+") and "12" in values[("3", "phone")]
    assert values[("3", "consent_sms")].startswith("'@")
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in frame.to_numpy().ravel())
    assert all(frame["hint"] != "")


def test_no_personal_data_in_logs_report_or_summary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    people = [
        (
            "S100001",
            "Hildegarde",
            "Vasseur-Quint",
            "hildegarde.vq@example.org",
            "06 39 98 11 22",
            "17/05/1961",
        ),
        (
            "S100002",
            "Anatole",
            "Brisebois",
            "anatole.b@example",
            "06 39 98 33",
            "31/02/1970",
        ),  # invalid e-mail, phone, date
        ("S100003", "Philomène", "Quérard", "philo@example.fr", "+33 1 99 00 44 55", "1999-13-01"),
    ]
    rows = [_row(s, first=f, last=n, email=e, phone=p, birth=b) for s, f, n, e, p, b in people]
    caplog.set_level(logging.DEBUG)
    result = _ingest(tmp_path, rows)
    assert result.counts["quarantined"] == 2
    published = result.quarantine_csv().decode("utf-8-sig") + str(result.summary()) + caplog.text
    for person in people:
        for value in person:
            assert value not in published, value
    for digits in ("0639981122", "063998 33", "199004455"):
        assert digits not in published.replace(" ", "")


def test_too_many_quarantined_rows_stop_the_night(tmp_path: Path) -> None:
    result = _ingest(
        tmp_path, [_row("S1"), _row("S2", birth="x"), _row("S3"), _row("S4"), _row("S5")]
    )
    assert result.quarantined_share == pytest.approx(0.2)
    assert result.stop_reason(0.2) is None  # exactly the limit is allowed
    result = _ingest(tmp_path, [_row("S1"), _row("S2", birth="x"), _row("S3", birth="y")])
    reason = result.stop_reason(0.2)
    assert (
        reason is not None and "2 of 3 rows quarantined" in reason and "unreadable_date" in reason
    )


def test_read_supporters_keeps_original_lines(tmp_path: Path) -> None:
    raw = read_supporters(_write(tmp_path, HEADER + "\n" + _row("S1") + "\n\n" + _row("S2") + "\n"))
    assert raw.lines.tolist() == [2, 4] and raw.blank_rows == 1


# ------------------------------------------------------------ property: accounting

_CELLS = {
    "supporter_id": ["S1", "S2", "S3", "'S4", "", "1,2E+05"],
    "email": ["", "a@example.org", " A@Example.org", "b@example.org", "bad@@x", "c@example.fr"],
    "phone": ["", "06 12 34 56 78", "+33612345678", "0612", "07 81 22 33 44"],
    "birth_date": ["12/03/1950", "31/02/1990", "", "01/01/10", "x", "1999-12-31"],
    "postal_code": ["75011", "1400", "", "99999"],
    "consent_email": ["oui", "non", "", "x", "peut-être"],
    "note": ["", '"deux\nlignes"', '"a;b"', '"trois\r\nlignes\nici"'],
}


@st.composite
def _exports(draw: st.DrawFn) -> tuple[list[list[str] | None], list[str]]:
    rows = draw(
        st.lists(
            st.one_of(
                st.none(),  # a line of separators only
                st.tuples(*[st.sampled_from(values) for values in _CELLS.values()]).map(list),
            ),
            min_size=1,
            max_size=25,
        )
    )
    suppressed = draw(
        st.lists(
            st.sampled_from(["a@example.org", "c@example.fr", "+33781223344", "06 12 34 56 78"]),
            max_size=2,
        )
    )
    return rows, suppressed


@settings(max_examples=30, deadline=None)
@given(export=_exports())
def test_every_row_lands_in_exactly_one_bucket(
    tmp_path_factory: pytest.TempPathFactory, export: tuple[list[list[str] | None], list[str]]
) -> None:
    rows, suppressed = export
    folder = tmp_path_factory.mktemp("property")
    lines, expected, current = [";".join(_CELLS)], [], 2
    for row in rows:
        text = ";" * (len(_CELLS) - 1) if row is None else ";".join(row)
        if row is not None and any(cell.strip() for cell in row):
            expected.append(current)
        current += 1 + text.count("\n")
        lines.append(text)
    path = folder / "export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stop = folder / "stop.txt"
    stop.write_text("".join(f"{value}\n" for value in suppressed), encoding="utf-8")
    if not expected:
        with pytest.raises(EmptyFileError):
            ingest_supporters(path, reference_date=ON)
        return

    result = ingest_supporters(path, reference_date=ON, suppression=load_suppression(stop))
    assert _balanced(result)
    assert result.rows["line"].tolist() == expected  # each row once, at its original line
    buckets = result.rows["bucket"].value_counts().to_dict()
    counts = result.counts
    assert (buckets["valid"], buckets["quarantined"], buckets["merged"], buckets["suppressed"]) == (
        counts["valid"],
        counts["quarantined"],
        counts["duplicates_merged"],
        counts["suppressed"],
    )
    quarantined_lines = set(result.rows.loc[result.rows["bucket"] == "quarantined", "line"])
    assert set(result.quarantine["line"]) == quarantined_lines
    assert len(result.valid) == counts["valid"] and result.valid["supporter_id"].is_unique
    contacts_on_list = {"a@example.org", "c@example.fr", "+33781223344", "+33612345678"} & {
        "+33612345678" if value == "06 12 34 56 78" else value for value in suppressed
    }
    assert not contacts_on_list & (set(result.valid["email"]) | set(result.valid["phone"]))


# ------------------------------------------------------------------- the night


@pytest.fixture
def night(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from matinale.night import RunContext
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    settings = load_settings()
    supporters = settings.inbox / "supporters" / "export.csv"
    supporters.parent.mkdir(parents=True)
    ctx = RunContext(
        edition=ON, run="20261124T000000Z-test", supporters_file=str(supporters), brief_file=""
    )
    return {
        "settings": settings,
        "store": LocalStore(tmp_path / "work"),
        "ctx": ctx,
        "file": supporters,
    }


def test_run_ingest_stores_the_accounting_and_applies_the_suppression_folder(
    night: dict, caplog: pytest.LogCaptureFixture
) -> None:
    from matinale.night import run_ingest, run_privacy

    night["file"].write_text(
        HEADER
        + "\n"
        + "\n".join(
            [
                _row("S1", first="Hildegarde", email="hildegarde@example.org"),
                _row("S2", first="Anatole", email="anatole@example.org", birth="31/02/1970"),
                _row("S3", first="Philomène", email="philo@example.fr"),
                _row("S4", first="Eulalie", email="eulalie@example.org"),
                _row("S5", first="Zéphyrin", email="zeph@example.org"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    (night["settings"].inbox / "suppression").mkdir()
    (night["settings"].inbox / "suppression" / "stop.txt").write_text(
        "philo@example.fr\n", encoding="utf-8"
    )
    caplog.set_level(logging.DEBUG)

    counts = run_ingest(night["settings"], night["store"], night["ctx"])

    prefix = night["ctx"].prefix
    assert counts == {
        "rows_read": 5,
        "valid": 3,
        "quarantined": 1,
        "duplicates_merged": 0,
        "suppressed": 1,
        "repaired": 0,
    }
    stored = night["store"].get_json(f"{prefix}/ingest.json")
    assert (
        stored["suppressed"] == 1
        and stored["reasons"] == {"impossible_date": 1}
        and stored["error"] is None
    )
    assert stored["consent"]["consent_by_channel"]["email"] == 3
    assert night["store"].get_frame(f"{prefix}/private/valid.parquet")["supporter_id"].tolist() == [
        "S1",
        "S4",
        "S5",
    ]
    report = night["store"].get_bytes(f"{prefix}/private/quarantine.csv").decode("utf-8-sig")
    assert "export.csv,3,birth_date,3******0,impossible_date" in report
    visible = caplog.text + json.dumps(stored, ensure_ascii=False) + report
    for secret in (
        "Hildegarde",
        "Anatole",
        "anatole@example.org",
        "philo@example.fr",
        "31/02/1970",
        "Zéphyrin",
    ):
        assert secret not in visible

    # The night's compliance record counts consents per legal basis and channel.
    run_privacy(night["settings"], night["store"], night["ctx"])
    compliance = night["store"].get_json(f"{prefix}/compliance.json")
    assert compliance["consent_by_legal_basis"] == {
        "non renseignée": {"email": 3, "sms": 0, "whatsapp": 0, "social": 0}
    }


def test_run_ingest_stops_the_night_when_too_many_rows_are_quarantined(night: dict) -> None:
    from matinale.night import NightError, run_ingest

    night["file"].write_text(
        HEADER
        + "\n"
        + "\n".join([_row("S1"), _row("S2", birth="?"), _row("S3", birth="?")])
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(NightError, match=r"2 of 3 rows quarantined \(67% > 20%"):
        run_ingest(night["settings"], night["store"], night["ctx"])
    prefix = night["ctx"].prefix
    assert night["store"].exists(f"{prefix}/private/quarantine.csv")  # the team can see why
    assert not night["store"].exists(f"{prefix}/private/valid.parquet")  # nothing goes on
    assert "67%" in night["store"].get_json(f"{prefix}/ingest.json")["error"]


def test_run_ingest_stops_the_night_on_a_file_level_error(night: dict) -> None:
    from matinale.night import NightError, run_ingest

    night["file"].write_text("prenom,nom\nJeanne,Martin\n", encoding="utf-8")
    with pytest.raises(NightError, match="no supporter_id column"):
        run_ingest(night["settings"], night["store"], night["ctx"])
    assert "supporter_id" in night["store"].get_json(f"{night['ctx'].prefix}/ingest.json")["error"]


# --------------------------------------------------------------- matinale validate


def _validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    from matinale.cli import main

    code = main(["validate", *args, "--on", ON.isoformat(), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_validate_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = _write(tmp_path, HEADER + "\n" + _row("S1") + "\n", name="clean.csv")
    code, summary = _validate(capsys, str(clean))
    assert code == 0 and summary["error"] is None and summary["valid"] == 1

    some = _write(
        tmp_path,
        HEADER
        + "\n"
        + "\n".join([_row(f"S{i}") for i in range(9)] + [_row("S9", birth="?")])
        + "\n",
        name="some.csv",
    )
    code, summary = _validate(capsys, str(some))
    assert (
        code == 1 and summary["quarantined"] == 1 and summary["reasons"] == {"unreadable_date": 1}
    )

    broken = _write(
        tmp_path,
        HEADER + "\n" + "\n".join([_row("S1", birth="?"), _row("S2")]) + "\n",
        name="broken.csv",
    )
    code, summary = _validate(capsys, str(broken))
    assert code == 2 and "50% > 20%" in summary["error"]

    code, summary = _validate(capsys, str(tmp_path / "absent.csv"))
    assert code == 2 and "not found" in summary["error"]
    required = {
        "rows_read",
        "valid",
        "quarantined",
        "duplicates_merged",
        "suppressed",
        "repaired",
        "reasons",
        "error",
    }
    assert required <= set(summary)


def test_validate_writes_the_report_and_applies_a_suppression_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        HEADER
        + "\n"
        + "\n".join(
            [_row("S1", email="stop@example.org"), _row("S2"), _row("S3", birth="?")]
            + [_row(f"S{i}") for i in range(4, 9)]
        )
        + "\n",
    )
    stop = tmp_path / "stop.txt"
    stop.write_text(hashlib.sha256(b"stop@example.org").hexdigest() + "\n", encoding="utf-8")
    code, summary = _validate(
        capsys, str(path), "--suppression", str(stop), "--report", str(tmp_path / "report")
    )
    assert code == 1 and summary["suppressed"] == 1 and summary["quarantined"] == 1
    assert (
        json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))["exit_code"]
        == 1
    )
    report = pd.read_csv(tmp_path / "report" / "quarantine.csv", dtype=str, encoding="utf-8-sig")
    assert report[["line", "column", "reason"]].values.tolist() == [
        ["4", "birth_date", "unreadable_date"]
    ]


def test_validate_bad_reference_date_still_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from matinale.cli import main

    code = main(
        [
            "validate",
            str(_write(tmp_path, HEADER + "\n" + _row() + "\n")),
            "--on",
            "24/11/2026",
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 2 and "YYYY-MM-DD" in summary["error"]


def test_validate_prints_a_readable_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from matinale.cli import main

    path = _write(
        tmp_path,
        "Identifiant;Prénom;Date de naissance;CP\nS1;Hélène;12/03/1950;1400\nS2;Paul;31/02/1990;75011\n",
        encoding="cp1252",
    )
    code = main(["validate", str(path), "--on", ON.isoformat()])
    out = capsys.readouterr().out
    assert code == 2  # 1 of 2 rows: over 20%
    assert (
        "cp1252" in out
        and "impossible_date" in out
        and "postal_code_leading_zero 1" in out
        and "would stop" in out
    )
    assert "Paul" not in out and "31/02/1990" not in out


def test_a_keyed_id_hash_on_the_suppression_list_suppresses_that_id(tmp_path: Path) -> None:
    """`matinale person erase` adds `id:<keyed hash>`: tomorrow's export with the same
    supporter_id (and a new e-mail and phone) brings nobody back."""
    from matinale.ingest import ingest_supporters
    from matinale.privacy import keyed_id_hash, load_suppression

    key = b"k" * 32
    (tmp_path / "suppression").mkdir()
    (tmp_path / "suppression" / "erased.txt").write_text(
        f"id:{keyed_id_hash(key, 'A-0002')}\n", encoding="utf-8"
    )
    export = tmp_path / "export.csv"
    export.write_text(
        "supporter_id;email;age;code_postal\n"
        "A-0001;un@example.org;40;75011\nA-0002;nouvelle@example.org;41;75011\n",
        encoding="utf-8",
    )
    result = ingest_supporters(
        export,
        reference_date=date(2026, 11, 24),
        suppression=load_suppression(tmp_path / "suppression", key=key),
    )
    assert list(result.valid["supporter_id"]) == ["A-0001"]
    assert result.counts["suppressed"] == 1
