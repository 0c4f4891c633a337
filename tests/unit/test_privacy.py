"""Privacy helpers: masking, formula-safe cells, the suppression list, consent counts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matinale.privacy import (
    SuppressionError,
    compliance_counts,
    load_suppression,
    mask_cell,
    mask_email,
    mask_phone,
    mask_value,
    neutralise_formula,
    sha256_hex,
    split_for_segmentation,
)


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("jeanne.martin@example.org", "j***@e***.org"),
        ("j@e.fr", "j***@e***.fr"),
        ("jeanne@@example", "j***@e***"),
        ("jeanne@", "j***@***"),
        ("@example.org", "@******g"),
    ],
)
def test_mask_email(value: str, masked: str) -> None:
    assert mask_email(value) == masked


def test_mask_phone_keeps_two_digits_and_the_shape() -> None:
    assert mask_phone("06 12 34 56 78") == "** ** ** ** 78"
    assert mask_phone("+33 6 12 34 56 78") == "+** * ** ** ** 78"
    assert mask_phone("06 12") == "** 12"
    assert mask_phone("612") == "6*2"


def test_mask_value() -> None:
    assert mask_value("Hildegarde") == "H******e"
    assert mask_value("Al") == "**"
    assert mask_value("Léa") == "L*a"


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("first_name", "Hildegarde", "H******e"),
        ("last_name", '=HYPERLINK("http://x")', "'=******)"),
        ("supporter_id", "S100001", "S*****1"),
        ("birth_date", "31/02/1970", "3******0"),
        ("email", "anatole.b@example", "a***@e***"),
        ("phone", "+33 6 12", "'+** * 12"),
        ("consent_email", "peut-être", "peut-être"),
        ("consent_email", "anatole@example.org", "a***@e***.org"),  # a shifted column
        ("postal_code", "06 12 34 56 78", "0******8"),  # looks like a phone, whatever the column
        ("postal_code", "ABCDE", "ABCDE"),
        ("events_attended", "-1", "'-1"),
        ("interests", "x" * 40, "x" * 24 + "…"),
        ("legal_basis", "", ""),
    ],
)
def test_mask_cell(field: str, value: str, shown: str) -> None:
    assert mask_cell(field, value) == shown


@pytest.mark.parametrize("cell", ["=1+2", "+33", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_neutralise_formula(cell: str) -> None:
    assert neutralise_formula(cell) == "'" + cell


def test_neutralise_formula_leaves_plain_text() -> None:
    assert neutralise_formula("Jeanne") == "Jeanne"
    assert neutralise_formula("") == ""


def test_sha256_hex_of_the_normalised_value() -> None:
    assert sha256_hex("a@example.org") == hashlib.sha256(b"a@example.org").hexdigest()


def test_load_suppression_formats_and_encodings(tmp_path: Path) -> None:
    folder = tmp_path / "suppression"
    folder.mkdir()
    (folder / "stop.txt").write_bytes(
        '\ufeff# désinscrits\nA@Example.org\n\n  06 12 34 56 78  \n"+33 7 81 22 33 44"\n'.encode()
    )
    (folder / "cnil.txt").write_bytes(
        ("Hélène@example.org\n" + sha256_hex("+33699887766").upper() + "\n").encode("cp1252")
    )
    (folder / "notes.md").write_text("ignored: not a list\n", encoding="utf-8")
    suppression = load_suppression(folder)
    assert suppression.files == ("cnil.txt", "stop.txt")
    assert suppression.plain == frozenset(
        {"a@example.org", "+33612345678", "+33781223344", "hélène@example.org"}
    )
    assert suppression.digests == frozenset({hashlib.sha256(b"+33699887766").digest()})
    assert len(suppression) == 5


def test_missing_suppression_folder_is_an_empty_list(tmp_path: Path) -> None:
    assert len(load_suppression(tmp_path / "absent")) == 0
    assert len(load_suppression(None)) == 0


def test_unreadable_suppression_entry_names_file_and_line_only(tmp_path: Path) -> None:
    path = tmp_path / "stop.txt"
    path.write_text("a@example.org\nn/a 12\n", encoding="utf-8")
    with pytest.raises(SuppressionError, match="stop.txt, line 2") as caught:
        load_suppression(path)
    assert "n/a 12" not in str(caught.value)


def test_suppression_matches_plain_and_hashed_entries(tmp_path: Path) -> None:
    path = tmp_path / "stop.txt"
    path.write_text("a@example.org\n" + sha256_hex("+33612345678") + "\n", encoding="utf-8")
    suppression = load_suppression(path)
    emails = pa.array(["a@example.org", "b@example.org", "", "c@example.org"])
    phones = pa.array(["", "+33612345678", "", "+33600000000"])
    assert suppression.matches(emails, phones).tolist() == [True, True, False, False]


def test_compliance_counts_per_basis_and_channel() -> None:
    valid = pd.DataFrame(
        {
            "legal_basis": ["consentement", "adhésion", "consentement", ""],
            "consent_email": [True, True, False, True],
            "consent_sms": [False, True, True, False],
            "consent_whatsapp": [False, False, False, False],
            "consent_social": [True, False, False, False],
        }
    )
    counts = compliance_counts(valid)
    assert counts["consent_by_channel"] == {"email": 3, "sms": 2, "whatsapp": 0, "social": 1}
    assert counts["legal_basis"] == {"adhésion": 1, "consentement": 2, "non renseignée": 1}
    assert counts["consent_by_legal_basis"]["consentement"] == {
        "email": 1,
        "sms": 1,
        "whatsapp": 0,
        "social": 1,
    }


def test_split_keeps_minors_out_of_segmentation() -> None:
    valid = pd.DataFrame(
        {
            "supporter_id": ["S1", "S2"],
            "first_name": ["A", "B"],
            "last_name": ["C", "D"],
            "email": ["", ""],
            "phone": ["", ""],
            "age": [17, 40],
            "interests": ["", ""],
            "consent_email": [True, True],
            "consent_sms": [False, False],
            "consent_whatsapp": [False, False],
            "consent_social": [False, False],
            "legal_basis": ["", ""],
        }
    )
    split = split_for_segmentation(valid)
    assert split.minors == 1 and split.features["supporter_id"].tolist() == ["S2"]
    assert "email" not in split.features.columns


@given(st.text(alphabet=st.sampled_from("0123456789 +.-()/aZx\t") | st.characters(), max_size=30))
def test_mask_phone_is_the_character_by_character_mask(value: str) -> None:
    # The ASCII fast path against the character-by-character mask it stands for.
    from matinale.privacy import _mask_phone_by_character, mask_phone

    assert mask_phone(value) == _mask_phone_by_character(value.strip())
