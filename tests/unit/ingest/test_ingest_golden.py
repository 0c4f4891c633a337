"""Golden output of ingest (and privacy) on messy, realistic exports: any drift fails.

The files are a ``generate_supporters`` sample roughened with the quirks real exports have
(Excel apostrophes, mangled ids, lost leading zeros, dd/mm/yy and impossible dates,
"45 ans" ages, odd phones, duplicates with conflicting consents, blank and ragged lines,
quoted newlines, missing columns, suppression by value and by digest), written as UTF-8,
UTF-8 with a BOM, Windows-1252, with ``,``, ``;`` and tab separators, and as Parquet.

The digests pin the valid frame as a canonical table (column names, Arrow types and
values, not file bytes), the quarantine CSV, the row buckets and the summary; the night
test also pins what ``run_ingest`` and ``run_privacy`` store. They were computed with the
code before the performance work: if one changes, behaviour changed. (Wave 4 changed them
once on purpose: numbers that cannot get an SMS lose SMS consent and are listed in the
quarantine report; nothing else moved.)
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from matinale.dev.sample import generate_supporters
from matinale.ingest import IngestResult, ingest_supporters
from matinale.privacy import load_suppression, sha256_hex

ON = date(2026, 11, 24)

_MESS: dict[str, list[str]] = {
    "supporter_id": ["'S0001", " S0002 ", "1,23E+05", "", "12345", "' S0003", "1.5e6"],
    "first_name": ["", " Éloïse ", "JEAN-PIERRE", "=cmd()", "Zoé\nBis"],
    "last_name": ["", "d'Arc", " Noël ", "+SUM(A1)"],
    "email": [
        "",
        " Jean.Dupont@Example.ORG ",
        "mailto:zoe@example.fr",
        "bad@@example.org",
        "élise@example.org",
        "no-at-sign.example.org",
        "a@b",
        "x" * 250 + "@example.org",
        "user+tag@xn--bcher-kva.ch",
        "A@EXAMPLE.ORG",
    ],
    "phone": [
        "",
        "06 12 34 56 78",
        "+33 (0)6 12 34 56 78",
        "0033612345678",
        "612345678",
        "'0612345678",
        "0690 12 34 56",
        "+262 692 12 34 56",
        "+44 20 7946 0958",
        "0800 123 456",
        "0612",
        "06.12.34.56.79 / 07 81 22 33 44",
        "33612345679",
        "07 00 00 00 00",
        "+1 415 555 2671",
        "06\u00a012\u00a034\u00a056\u00a080",
        "abc",
    ],
    "birth_date": [
        "",
        "1975-03-21",
        "21/03/1975",
        "2/3/75",
        "31/02/1990",
        "x",
        "1999-12-31T10:00:00Z",
        "01/01/10",
        "12.05.1960",
        "2015-01-01",
        "1800-01-01",
        "13/13/1970",
        "'21/03/1975",
        "21/03/1975 10:00",
        "1975-3-1",
    ],
    "postal_code": [
        "",
        "1400",
        "01400",
        "99999",
        "75001",
        "7500",
        "ABCDE",
        "'75011",
        "75 011",
        "2A004",
        "13001",
    ],
    "insee_com": [
        "",
        "75056",
        "2A004",
        "01001",
        "99999",
        "75101",
        "13055",
        "1001",
        "XYZ",
        "69123",
        "75111",
    ],
    "consent_email": [
        "",
        "Oui",
        "NON",
        "x",
        "X",
        "peut-être",
        "1",
        "0",
        "yes",
        " true ",
        "faux",
        "'oui",
    ],
    "consent_sms": ["", "o", "n", "vrai", "?"],
    "consent_whatsapp": ["", "oui", "non", "Y", "no"],
    "consent_social": ["", "oui", "non", "2"],
    "consent_date": [
        "",
        "2024-01-10",
        "10/01/2024",
        "31/04/2024",
        "hier",
        "2025-02-29",
        "29/02/2024",
    ],
    "legal_basis": ["", " Consentement ", "ADHÉSION", "intérêt légitime"],
    "joined_on": ["", "2020-05-05", "05/05/20", "32/01/2020", "jamais"],
    "interests": [
        "",
        "Écologie ; Emploi",
        "santé, école / Europe",
        "  --Culture||Sport--  ",
        "Pouvoir d'achat",
    ],
    "events_attended": ["", "0", "3", "3.0", "3,00", "-1", "abc", "1234567890"],
    "shares_30d": ["", "12", " 7 ", "1e3", "4.5"],
    "donor": ["", "oui", "non", "Oui", "N", "peut-être"],
    "volunteer": ["", "x", "0", "vrai", "bof"],
}
_AGES = [
    "",
    "45",
    "45 ans",
    "45ANS",
    "45.0",
    "15",
    "16",
    "110",
    "111",
    "abc",
    "quarante",
    "'30",
    "200 ans",
]


def _messy_frame(rows: int, seed: int) -> pd.DataFrame:
    """A sample with about one messy cell in six, duplicates and an age column."""
    frame = generate_supporters(rows, seed).astype(object)
    rng = np.random.default_rng(seed)
    for column, values in _MESS.items():
        hit = np.flatnonzero(rng.random(rows) < 0.06)
        frame.loc[hit, column] = np.asarray(values, dtype=object)[
            rng.integers(0, len(values), hit.size)
        ]
    frame.insert(6, "age", np.asarray(_AGES, dtype=object)[rng.integers(0, len(_AGES), rows)])
    no_birth = rng.random(rows) < 0.1
    frame.loc[no_birth, "birth_date"] = ""
    # Duplicates: same id, same e-mail or same phone, with other consents and gaps.
    for key in ("supporter_id", "email", "phone"):
        source = rng.choice(rows, size=rows // 40, replace=False)
        twins = frame.iloc[source].copy()
        for column in (
            "consent_email",
            "consent_sms",
            "first_name",
            "interests",
            "postal_code",
            "insee_com",
            "donor",
        ):
            twins[column] = np.asarray(["", "non", "oui", "x"], dtype=object)[
                rng.integers(0, 4, len(twins))
            ]
        if key != "supporter_id":
            twins["supporter_id"] = [f"D{key[:2]}{i}" for i in range(len(twins))]
        twins["events_attended"] = rng.integers(0, 9, len(twins)).astype(str)
        frame = pd.concat([frame, twins], ignore_index=True)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def _csv_text(
    frame: pd.DataFrame,
    delimiter: str,
    rng: np.random.Generator,
    *,
    header: list[str] | None = None,
) -> str:
    """CSV with quoting where needed, some blank lines, a few ragged rows and padding."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header or list(frame.columns))
    width = frame.shape[1]
    for values in frame.itertuples(index=False):
        cells = list(values)
        roll = rng.random()
        if roll < 0.01:
            writer.writerow([""] * width)  # a line of separators only
        elif roll < 0.015:
            out.write("\n")  # an empty line
        elif roll < 0.02:
            cells = [*cells, "extra"]  # a shifted row
        elif roll < 0.025:
            cells = cells[:-2]  # a short row
        writer.writerow(cells)
    return out.getvalue()


def _variants(folder: Path) -> dict[str, Path]:
    frame = _messy_frame(2500, 7)
    rng = np.random.default_rng(3)
    paths: dict[str, Path] = {}

    path = folder / "comma-utf8.csv"
    path.write_bytes(_csv_text(frame, ",", rng).encode("utf-8"))
    paths["comma-utf8"] = path

    french = frame.drop(columns=["consent_whatsapp", "consent_social"]).replace(
        "\n", " ", regex=True
    )
    header = [
        "Identifiant",
        "Prénom",
        "Nom",
        "Courriel",
        "Téléphone",
        "Date de naissance",
        "Âge",
        "Code postal",
        "Code INSEE",
        "Consentement email",
        "Consentement SMS",
        "Date du consentement",
        "Base légale",
        "Date d'adhésion",
        "Centres d'intérêt",
        "Évènements",
        "Partages 30j",
        "Donateur",
        "Bénévole",
    ]
    text = "sep=;\n" + _csv_text(french, ";", rng, header=header)
    path = folder / "semicolon-cp1252.csv"
    path.write_bytes(text.replace("\n", "\r\n").encode("cp1252", errors="replace"))
    paths["semicolon-cp1252"] = path

    slim = frame[
        [
            "supporter_id",
            "first_name",
            "email",
            "phone",
            "age",
            "postal_code",
            "consent_email",
            "interests",
        ]
    ]
    path = folder / "tab-bom.csv"
    path.write_bytes(_csv_text(slim.replace("\n", " ", regex=True), "\t", rng).encode("utf-8-sig"))
    paths["tab-bom"] = path

    padded = frame.head(600).replace("\n", " ", regex=True)
    text = _csv_text(padded, ",", rng)
    lines = text.split("\n")
    path = folder / "excel-padded.csv"
    path.write_bytes(
        ("\n".join(line + ",,," if line else line for line in lines)).encode(
            "latin-1", errors="replace"
        )
    )
    paths["excel-padded"] = path

    path = folder / "export.parquet"
    pq.write_table(pa.Table.from_pandas(frame.head(800).astype(str), preserve_index=False), path)
    paths["parquet"] = path
    return paths


def _suppression(folder: Path) -> Path:
    stop = folder / "suppression"
    stop.mkdir()
    (stop / "stop.txt").write_text(
        "jean.dupont@example.org\n+33612345678\n"
        + sha256_hex("zoe@example.fr")
        + "\n"
        + sha256_hex("+590690123456")
        + "\n",
        encoding="utf-8",
    )
    return stop


def _digest(value: object) -> str:
    return hashlib.sha256(
        json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


def canonical_frame(frame: pd.DataFrame) -> str:
    """Names, Arrow types and values of a frame, whatever file it came from."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(None)
    return _digest(
        {"schema": [f"{f.name}:{f.type}" for f in table.schema], "values": table.to_pydict()}
    )


def fingerprint(result: IngestResult) -> dict[str, str]:
    rows = result.rows
    return {
        "valid": canonical_frame(result.valid),
        "quarantine_csv": hashlib.sha256(result.quarantine_csv()).hexdigest()[:16],
        "quarantine": canonical_frame(result.quarantine),
        "rows": _digest(
            {"line": rows["line"].tolist(), "bucket": rows["bucket"].astype(str).tolist()}
        ),
        "summary": _digest(result.summary()),
    }


GOLDEN: dict[str, dict[str, str]] = {
    "comma-utf8": {
        "valid": "42479934034a3cba",
        "quarantine_csv": "a8e2af8289ee33de",
        "quarantine": "d21dd3defdb317aa",
        "rows": "be81852f281dbd0c",
        "summary": "0ee5d86cfe5bf8ea",
    },
    "semicolon-cp1252": {
        "valid": "9c8f7a703c956b70",
        "quarantine_csv": "bb4e1c40642a518c",
        "quarantine": "f6c5a0e534d600df",
        "rows": "45cf07979463c6d4",
        "summary": "015d223ac16c18fe",
    },
    "tab-bom": {
        "valid": "42b3114e03da259b",
        "quarantine_csv": "66122f8aa103ca87",
        "quarantine": "58a5e8ba9be00ac6",
        "rows": "2d35bea642301bdc",
        "summary": "e3476ade0ca84491",
    },
    "excel-padded": {
        "valid": "8774ed3d17054acf",
        "quarantine_csv": "322e13933b90282d",
        "quarantine": "502335502ada9c28",
        "rows": "4462879c38c991d1",
        "summary": "a97c1ace4af29153",
    },
    "parquet": {
        "valid": "3c3c214490c9154d",
        "quarantine_csv": "12b39193a9b58581",
        "quarantine": "1d52f3d0fe91ae74",
        "rows": "2b2081ad1678a830",
        "summary": "e6af4b51f9085ca3",
    },
}
GOLDEN_NIGHT: dict[str, str] = {
    "counts": "a5292207524689c4",
    "ingest_json": "c35f4b38b3fac558",
    "quarantine_csv": "a8e2af8289ee33de",
    "valid_parquet": "42479934034a3cba",
    "privacy": "d5a49ba42e0b6dab",
    "features_parquet": "4dca876a02330a25",
    "contacts_parquet": "d2a864fe2fb412d8",
    "compliance_json": "e9fcbbfdec7c5f37",
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    folder = tmp_path_factory.mktemp("golden")
    return _variants(folder), _suppression(folder)


@pytest.mark.parametrize(
    "variant", ["comma-utf8", "semicolon-cp1252", "tab-bom", "excel-padded", "parquet"]
)
def test_ingest_output_is_pinned(exports: tuple[dict[str, Path], Path], variant: str) -> None:
    paths, stop = exports
    result = ingest_supporters(
        paths[variant], reference_date=ON, suppression=load_suppression(stop)
    )
    counts = result.counts
    assert (
        counts["rows_read"]
        == counts["valid"]
        + counts["quarantined"]
        + counts["duplicates_merged"]
        + counts["suppressed"]
    )
    assert fingerprint(result) == GOLDEN[variant]


def test_night_ingest_and_privacy_outputs_are_pinned(
    exports: tuple[dict[str, Path], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matinale.night import RunContext, run_ingest, run_privacy
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    paths, stop = exports
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    settings = load_settings()
    settings.inbox.mkdir(parents=True)
    (settings.inbox / "suppression").symlink_to(stop)
    ctx = RunContext(
        edition=ON,
        run="20261124T000000Z-gold",
        supporters_file=str(paths["comma-utf8"]),
        brief_file="",
    )
    store = LocalStore(tmp_path / "work")
    settings = dataclasses.replace(
        settings, max_quarantine_share=0.9
    )  # the messy file is meant to be messy
    counts = run_ingest(settings, store, ctx)
    privacy = run_privacy(settings, store, ctx)
    prefix = ctx.prefix
    found = {
        "counts": _digest(counts),
        "ingest_json": _digest(store.get_json(f"{prefix}/ingest.json")),
        "quarantine_csv": hashlib.sha256(
            store.get_bytes(f"{prefix}/private/quarantine.csv")
        ).hexdigest()[:16],
        "valid_parquet": canonical_frame(store.get_frame(f"{prefix}/private/valid.parquet")),
        "privacy": _digest(privacy),
        "features_parquet": canonical_frame(store.get_frame(f"{prefix}/private/features.parquet")),
        "contacts_parquet": canonical_frame(store.get_frame(f"{prefix}/private/contacts.parquet")),
        "compliance_json": _digest(store.get_json(f"{prefix}/compliance.json")),
    }
    assert found == GOLDEN_NIGHT
