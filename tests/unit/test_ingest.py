from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from matinale.ingest import IngestError, canonical_header, ingest_supporters

HEADER = "supporter_id,prenom,nom,email,Code postal,insee_com,date_naissance,consent_email,consent_sms,consent_whatsapp,consent_social,legal_basis,interests,events_attended,shares_30d,donor,volunteer\n"


def _csv(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "supporters.csv"
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_headers_fold_accents_and_separators() -> None:
    assert canonical_header("Date de naissance") == canonical_header("date_naissance".replace("_", "_de_")) == canonical_header("DATE-DE-NAISSANCE")


def test_codes_stay_text_and_rows_are_accounted(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        [
            "S000001,Jeanne,Martin,j@example.org,01400,01001,12/03/1950,oui,non,non,oui,consentement,sante,1,0,non,oui",
            "S000002,Paul,Durand,p@example.org,75011,75111,1999-07-01,x,,non,oui,adhésion,ecole|europe,0,3,oui,non",
            "S000003,Lea,Petit,l@example.org,59000,59350,31/02/1990,oui,oui,oui,oui,consentement,,0,0,non,non",
            "S000001,Jeanne,Martin,j@example.org,01400,01001,12/03/1950,non,non,non,oui,consentement,sante,1,0,non,oui",
        ],
    )
    result = ingest_supporters(path, reference_date=date(2026, 11, 24))
    assert result.counts == {"rows_read": 4, "quarantined": 1, "suppressed": 0, "duplicates_merged": 1, "valid": 2}
    valid = result.valid.set_index("supporter_id")
    assert valid.loc["S000001", "postal_code"] == "01400"
    assert valid.loc["S000001", "age"] == 76
    assert not valid.loc["S000001", "consent_email"]  # an opt-out anywhere is an opt-out
    assert valid.loc["S000002", "consent_email"]  # "x" means yes
    assert result.quarantine.iloc[0]["line"] == 4  # 31/02 is an error, never rolled over
    assert result.quarantine.iloc[0]["column"] == "birth_date"


def test_missing_id_column_stops_the_night(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["Jeanne,Martin"], header="prenom,nom\n")
    with pytest.raises(IngestError, match="supporter_id"):
        ingest_supporters(path, reference_date=date(2026, 11, 24))
