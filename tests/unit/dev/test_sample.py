from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from matinale.dev.sample import (
    COLUMNS,
    FICTION_PHONE_BLOCKS,
    INTERESTS,
    REFERENCE_DATE,
    generate_supporters,
    write_sample,
    write_supporters,
)
from matinale.geo import communes

ROWS = 2_000


@pytest.fixture(scope="module")
def supporters() -> pd.DataFrame:
    return generate_supporters(ROWS, seed=7)


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%d/%m/%Y")


def _national(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return "0" + digits[2:] if phone.startswith("+33") else digits


def test_columns_are_text_without_missing_values(supporters: pd.DataFrame) -> None:
    assert tuple(supporters.columns) == COLUMNS
    assert len(supporters) == ROWS
    assert (supporters.dtypes == "str").all()
    assert not supporters.isna().any().any()


def test_same_seed_same_bytes_and_other_seed_other_people(tmp_path: Path) -> None:
    first = write_sample(ROWS, 11, tmp_path / "a.csv").read_bytes()
    again = write_sample(ROWS, 11, tmp_path / "b.csv").read_bytes()
    other = write_sample(ROWS, 12, tmp_path / "c.csv").read_bytes()
    assert first == again
    assert first != other


def test_reference_date_moves_dates_not_the_default() -> None:
    assert generate_supporters(50, 3).equals(
        generate_supporters(50, 3, reference_date=REFERENCE_DATE)
    )
    later = generate_supporters(50, 3, reference_date=date(2030, 6, 1))
    assert _dates(later["joined_on"]).max() > pd.Timestamp(REFERENCE_DATE)


def test_phones_only_from_fiction_blocks(supporters: pd.DataFrame) -> None:
    phones = supporters["phone"]
    given = phones[phones != ""]
    national = given.map(_national)
    assert national.str.fullmatch(r"\d{10}").all()
    assert national.str[:6].isin(FICTION_PHONE_BLOCKS.values()).all()
    assert national.is_unique
    assert 0.2 < 1 - len(given) / len(phones) < 0.3
    # Spaced, compact and international forms, as exports mix them.
    assert given.str.match(r"^0\d \d\d").any()
    assert given.str.fullmatch(r"0\d{9}").any()
    assert given.str.startswith("+33 ").any()


def test_phones_never_repeat_when_people_outnumber_numbers() -> None:
    phones = generate_supporters(90_000, 5)["phone"]
    given = phones[phones != ""].map(_national)
    assert len(given) <= len(FICTION_PHONE_BLOCKS) * 10_000
    assert given.is_unique
    assert given.str[:6].isin(FICTION_PHONE_BLOCKS.values()).all()


def test_emails_on_reserved_domains_unique_and_ascii(supporters: pd.DataFrame) -> None:
    emails = supporters["email"]
    given = emails[emails != ""]
    assert given.str.fullmatch(r"[a-z0-9._-]+@example\.(org|fr)").all()
    assert given.is_unique
    assert 0.04 < 1 - len(given) / len(emails) < 0.12


def test_every_place_is_a_real_commune_and_postal_code(supporters: pd.DataFrame) -> None:
    table = communes()
    real = set(zip(table["code_postal"], table["insee_com"], strict=True))
    pairs = set(zip(supporters["postal_code"], supporters["insee_com"], strict=True))
    assert pairs <= real
    assert supporters["postal_code"].str.startswith("0").any()  # leading zeros kept


def test_supporter_ids_unique(supporters: pd.DataFrame) -> None:
    ids = supporters["supporter_id"]
    assert ids.is_unique
    assert (ids.str.len() >= 6).all()


def test_ages_and_dates(supporters: pd.DataFrame) -> None:
    born = _dates(supporters["birth_date"])
    reference = pd.Timestamp(REFERENCE_DATE)
    birthday_to_come = (born.dt.month > reference.month) | (
        (born.dt.month == reference.month) & (born.dt.day > reference.day)
    )
    ages = reference.year - born.dt.year - birthday_to_come.astype(int)
    assert ages.between(16, 95).all()
    assert 0.005 < (ages < 18).mean() < 0.05
    assert ages.median() > 45  # supporters skew older
    joined, consent = _dates(supporters["joined_on"]), _dates(supporters["consent_date"])
    assert (joined >= reference - pd.DateOffset(years=6)).all() and (joined <= reference).all()
    assert (consent >= joined).all() and (consent <= reference).all()


def test_flags_counts_and_interests(supporters: pd.DataFrame) -> None:
    for column in (
        "consent_email",
        "consent_sms",
        "consent_whatsapp",
        "consent_social",
        "donor",
        "volunteer",
    ):
        assert set(supporters[column]) == {"oui", "non"}, column
    assert 0.75 < (supporters["consent_email"] == "oui").mean() < 0.85
    assert set(supporters["legal_basis"]) == {"consentement", "adhésion"}
    for column in ("events_attended", "shares_30d"):
        counts = supporters[column].astype(int)
        assert counts.min() == 0 and (counts == 0).mean() > 0.3, column
    chosen = supporters["interests"].str.split("|")
    assert chosen.map(len).between(1, 3).all()
    assert chosen.map(
        lambda items: set(items) <= set(INTERESTS) and len(set(items)) == len(items)
    ).all()


def test_parquet_round_trip_keeps_text(supporters: pd.DataFrame, tmp_path: Path) -> None:
    path = write_supporters(supporters, tmp_path / "nested" / "supporters.parquet")
    schema = pq.read_schema(path)
    assert all(str(field.type) == "string" for field in schema)
    back = pd.read_parquet(path)
    assert back.equals(supporters)
    assert back["postal_code"].str.startswith("0").any()


def test_csv_round_trip_keeps_text(supporters: pd.DataFrame, tmp_path: Path) -> None:
    path = write_supporters(supporters, tmp_path / "supporters.csv")
    back = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    assert back.equals(supporters)


def test_other_extensions_are_refused(supporters: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \*\.parquet"):
        write_supporters(supporters, tmp_path / "supporters.xlsx")
    assert not list(tmp_path.iterdir())
