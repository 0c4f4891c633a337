"""The night's PII reference file: keyed hashes only, built once by privacy, reused after.

Protects issue 21 item 3: checks and publish load the reference privacy wrote instead of
hashing every supporter again; the file holds no plain name, id, phone or e-mail; a file
that cannot be trusted (cut short, corrupt, another version) is rebuilt, never half-used.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from bundle_samples import settings
from hypothesis import given
from hypothesis import strategies as st

from matinale.checks import (
    PII_REFERENCE_VERSION,
    PiiReferenceError,
    PiiScanner,
    dump_reference,
    load_reference,
)
from matinale.checks.reference import MAGIC
from matinale.night.run import PII_REFERENCE, RunContext, pii_scanner, write_pii_reference
from matinale.store import LocalStore

PEOPLE = pd.DataFrame(
    {
        "supporter_id": ["S0001234", "s0009999", "AB12", "ED-12-345"],
        "first_name": ["Hélène", "Jean-Pierre", "Camille", "Zoé"],
        "last_name": ["Dupont", "Le Gall", "Durand", "N'Diaye"],
        "email": ["helene.dupont@example.org", "jp.legall@example.fr", "", ""],
        "phone": ["06 39 98 12 34", "+33 7 11 22 33 44", "", ""],
    }
)
CONTACTS = PEOPLE.iloc[:2]
ALLOW = ["Camille Durand"]
TEXTS = [
    "Merci à HELENE DUPONT et à Le Gall Jean Pierre",
    "Réf. S0001234, code ED-12-345",
    "Camille Durand propose 500 maisons de santé.",
    "Zoé N’Diaye était là, écrivez à x.y@example.org ou au 06 39 98 12 34",
]
CTX = RunContext(date(2026, 11, 24), "20261124T000000Z-refx", "-", "-")


def _findings(scanner: PiiScanner) -> list[tuple[str, str, str]]:
    return list(scanner.scan([(f"t{i}", text) for i, text in enumerate(TEXTS)]))


def test_a_loaded_reference_finds_exactly_what_the_built_scanner_finds() -> None:
    built = PiiScanner.from_frames([PEOPLE, CONTACTS], ALLOW)
    loaded = load_reference(dump_reference(built), ALLOW)
    assert _findings(loaded) == _findings(built)
    assert {kind for _, kind, _ in _findings(loaded)} == {
        "supporter full name",
        "supporter id",
        "e-mail address",
        "phone number",
    }
    assert (loaded.stats, loaded.name_words) == (built.stats, built.name_words)
    assert loaded.allowed_names == built.allowed_names


def test_the_reference_file_holds_no_plain_personal_value(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_pii_reference(store, CTX, PEOPLE, CONTACTS)
    data = store.get_bytes(f"{CTX.prefix}/{PII_REFERENCE}")
    assert data.startswith(MAGIC)
    folded = data.lower()
    plain = [
        # Ids shorter than 6 are not in the reference at all (and "ab12" could be hex).
        *(v for v in PEOPLE["supporter_id"] if len(v) >= 6),
        *PEOPLE["first_name"],
        *PEOPLE["last_name"],
        *(v for v in PEOPLE["email"] if v),
        *(v for v in PEOPLE["phone"] if v),
        "helene",
        "dupont",
        "helene dupont",
        "dupont helene",
        "gall",
        "diaye",
        "0639981234",
        "639981234",
        "+33639981234",
        "711223344",
    ]
    for value in plain:
        for encoding in ("utf-8", "utf-16-le", "latin-1"):
            try:
                raw = value.lower().encode(encoding)
            except UnicodeEncodeError:
                continue
            assert raw not in folded, value
    # Private: the store keeps it out of reach like the supporter files it was made from.
    assert (store.path(f"{CTX.prefix}/{PII_REFERENCE}").stat().st_mode & 0o077) == 0


def test_checks_and_publish_load_the_reference_not_the_supporter_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    write_pii_reference(store, CTX, PEOPLE, CONTACTS)
    # No supporter file left: only the reference can answer.
    scanner = pii_scanner(settings(), store, CTX)
    assert any(kind == "supporter full name" for _, kind, _ in _findings(scanner))
    assert scanner.stats == {"people": 6, "supporter_ids": 3, "full_names": 8}


@pytest.mark.parametrize(
    "spoil",
    [
        lambda data: data[:-8],  # cut short
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped in the hashes
        lambda data: data.replace(
            f'"version": {PII_REFERENCE_VERSION}'.encode(), b'"version": 999', 1
        ),
        lambda data: b"not a reference",
    ],
    ids=["truncated", "corrupt", "other-version", "garbage"],
)
def test_an_untrustworthy_reference_is_refused_and_rebuilt(tmp_path: Path, spoil) -> None:
    good = dump_reference(PiiScanner.from_frames([PEOPLE]))
    with pytest.raises(PiiReferenceError):
        load_reference(spoil(good))
    store = LocalStore(tmp_path)
    key = f"{CTX.prefix}/{PII_REFERENCE}"
    store.put_bytes(key, spoil(good))
    store.put_frame(f"{CTX.prefix}/private/valid.parquet", PEOPLE)
    scanner = pii_scanner(settings(), store, CTX)  # rebuilt from the private file
    assert any(kind == "supporter id" for _, kind, _ in _findings(scanner))
    load_reference(store.get_bytes(key))  # and written back whole for the next stage


def test_privacy_writes_the_reference_the_sources_would_give(tmp_path: Path) -> None:
    """Same reference (counts, words) as building from the two private files, as before."""
    store = LocalStore(tmp_path)
    store.put_frame(f"{CTX.prefix}/private/valid.parquet", PEOPLE)
    store.put_frame(f"{CTX.prefix}/private/contacts.parquet", CONTACTS)
    from_files = pii_scanner(settings(), store, CTX)  # no reference yet: built from the files
    write_pii_reference(store, CTX, PEOPLE, CONTACTS)
    written = load_reference(store.get_bytes(f"{CTX.prefix}/{PII_REFERENCE}"), ALLOW)
    assert (written.stats, written.name_words) == (from_files.stats, from_files.name_words)
    assert _findings(written) == _findings(PiiScanner.from_frames([PEOPLE, CONTACTS], ALLOW))


_HASH = st.one_of(st.integers(0, 5), st.integers(0, 2**64 - 1))  # repeats and the full range


@given(st.lists(st.lists(_HASH, max_size=40), max_size=4))
def test_the_reference_hashes_are_what_np_unique_gives(parts) -> None:
    # _unique sorts and compares neighbours instead of calling np.unique (hash-based and
    # 40x slower in NumPy 2.4 on a night's 2 M hashes): the very same array.
    import numpy as np

    from matinale.checks.pii import _unique

    arrays = [np.array(part, dtype=np.uint64) for part in parts]
    expected = np.unique(np.concatenate(arrays)) if arrays else np.empty(0, np.uint64)
    found = _unique(arrays)
    assert found.dtype == np.uint64 and np.array_equal(found, expected)
