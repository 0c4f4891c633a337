"""Read the supporter file into one clean frame, and account for every row.

Every input row ends in exactly one bucket, decided in this order: quarantined (invalid),
suppressed, merged into a duplicate, valid. Codes (supporter_id, postal and INSEE codes,
phones) are always text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "ALIASES",
    "IngestError",
    "IngestResult",
    "canonical_header",
    "ingest_supporters",
    "read_supporters",
]

# One table maps every known header spelling to its field (keys are folded: lowercase,
# no accents, no spaces/underscores/dashes).
ALIASES: dict[str, str] = {}
_FIELDS: dict[str, tuple[str, ...]] = {
    "supporter_id": ("supporter_id", "id", "identifiant", "id_sympathisant", "id_contact"),
    "first_name": ("first_name", "prenom", "firstname"),
    "last_name": ("last_name", "nom", "lastname", "nom_de_famille"),
    "email": ("email", "e-mail", "courriel", "mail", "adresse_email"),
    "phone": ("phone", "telephone", "portable", "mobile", "tel"),
    "birth_date": ("birth_date", "date_de_naissance", "date_naissance", "naissance", "birthdate"),
    "age": ("age",),
    "postal_code": ("postal_code", "code_postal", "cp", "zip"),
    "insee_com": ("insee_com", "code_insee", "insee", "code_commune"),
    "consent_email": ("consent_email", "consentement_email", "optin_email"),
    "consent_sms": ("consent_sms", "consentement_sms", "optin_sms"),
    "consent_whatsapp": ("consent_whatsapp", "consentement_whatsapp", "optin_whatsapp"),
    "consent_social": ("consent_social", "consentement_reseaux", "optin_social"),
    "consent_date": ("consent_date", "date_consentement", "date_du_consentement"),
    "legal_basis": ("legal_basis", "base_legale", "fondement"),
    "joined_on": ("joined_on", "date_adhesion", "date_inscription", "inscrit_le"),
    "interests": ("interests", "centres_interet", "centres_d_interet", "interets", "thematiques"),
    "events_attended": ("events_attended", "evenements", "nb_evenements", "evenements_suivis"),
    "shares_30d": ("shares_30d", "partages_30j", "partages"),
    "donor": ("donor", "donateur"),
    "volunteer": ("volunteer", "benevole"),
}

BOOLEAN_FIELDS = ("consent_email", "consent_sms", "consent_whatsapp", "consent_social", "donor", "volunteer")
COUNT_FIELDS = ("events_attended", "shares_30d")
_TRUE = {"oui", "o", "vrai", "true", "yes", "y", "1", "x"}
_FALSE = {"non", "n", "faux", "false", "no", "0", ""}


def canonical_header(header: str) -> str:
    """Fold a header for lookup: lowercase, accents stripped, separators removed."""
    text = unicodedata.normalize("NFKD", header.strip().lstrip("\ufeff"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"[\s_\-'’.]+", "", text)


for _field, _names in _FIELDS.items():
    for _name in _names:
        ALIASES[canonical_header(_name)] = _field


class IngestError(ValueError):
    """The file as a whole cannot be used: the night stops and nothing is published."""


@dataclass
class IngestResult:
    """Valid supporters, the quarantine report and the accounting of every row."""

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined_share(self) -> float:
        read = self.counts.get("rows_read", 0)
        return self.counts.get("quarantined", 0) / read if read else 0.0


def read_supporters(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file with every column as text, headers mapped to fields."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: supporter file not found")
    if path.suffix.lower() == ".parquet":
        raw = pd.read_parquet(path).astype("string")
    elif path.suffix.lower() == ".csv":
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    else:
        raise IngestError(f"{path}: unsupported file type {path.suffix!r}; use .csv or .parquet")
    if raw.empty:
        raise IngestError(f"{path}: the file has no rows")
    mapping: dict[str, str] = {}
    for column in raw.columns:
        target = ALIASES.get(canonical_header(str(column)))
        if target is None:
            continue
        if target in mapping.values():
            raise IngestError(f"{path}: two columns map to the field '{target}'; keep only one")
        mapping[column] = target
    if "supporter_id" not in mapping.values():
        raise IngestError(
            f"{path}: no supporter_id column (accepted headers: {', '.join(_FIELDS['supporter_id'])})"
        )
    frame = raw[list(mapping)].rename(columns=mapping).fillna("")
    for column in _FIELDS:
        if column not in frame.columns:
            frame[column] = ""
    frame = frame.astype("string").apply(lambda s: s.str.strip())
    frame.insert(0, "_line", np.arange(2, len(frame) + 2))  # line 1 is the header
    return frame


def _parse_dates(values: pd.Series) -> pd.Series:
    """ISO or dd/mm/yyyy dates; anything else (including 31/02) becomes NaT."""
    iso = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    french = pd.to_datetime(values, format="%d/%m/%Y", errors="coerce")
    return iso.fillna(french)


def _ages(frame: pd.DataFrame, reference: date) -> pd.Series:
    born = _parse_dates(frame["birth_date"])
    ref = pd.Timestamp(reference)
    years = ref.year - born.dt.year
    before_birthday = (born.dt.month > ref.month) | ((born.dt.month == ref.month) & (born.dt.day > ref.day))
    from_birth = (years - before_birthday.astype("Int64")).astype("Int64")
    stated = pd.to_numeric(frame["age"].str.extract(r"^(\d{1,3})\s*(?:ans)?$")[0], errors="coerce")
    return from_birth.fillna(stated.astype("Int64"))


def _flag(frame: pd.DataFrame, reasons: list[pd.Series], mask: pd.Series, column: str, reason: str) -> None:
    """Record ``reason`` for rows in ``mask`` that have no reason yet."""
    pending = mask & reasons[0].isna()
    reasons[0] = reasons[0].mask(pending, f"{column}: {reason}")


def ingest_supporters(path: Path, *, reference_date: date) -> IngestResult:
    """Read, validate and deduplicate the supporter file."""
    frame = read_supporters(path)
    reason = [pd.Series(pd.NA, index=frame.index, dtype="string")]

    _flag(frame, reason, frame["supporter_id"] == "", "supporter_id", "identifiant manquant")
    ages = _ages(frame, reference_date)
    _flag(frame, reason, ages.isna(), "birth_date", "date de naissance ou âge illisible")
    _flag(frame, reason, (ages < 16) | (ages > 110), "birth_date", "âge hors de 16–110 ans")
    for column in BOOLEAN_FIELDS:
        folded = frame[column].str.lower()
        _flag(frame, reason, ~folded.isin(_TRUE | _FALSE), column, "valeur oui/non illisible")
    for column in COUNT_FIELDS:
        counts = pd.to_numeric(frame[column].replace("", "0"), errors="coerce")
        _flag(frame, reason, counts.isna() | (counts < 0), column, "nombre entier attendu")

    bad = reason[0].notna()
    quarantine = pd.DataFrame(
        {
            "source_file": Path(path).name,
            "line": frame.loc[bad, "_line"],
            "column": reason[0][bad].str.split(":").str[0],
            "reason": reason[0][bad].str.split(": ", n=1).str[1],
        }
    )
    valid = frame.loc[~bad].copy()
    valid["age"] = ages[~bad].astype("int64")
    for column in BOOLEAN_FIELDS:
        valid[column] = valid[column].str.lower().isin(_TRUE)
    for column in COUNT_FIELDS:
        valid[column] = pd.to_numeric(valid[column].replace("", "0")).astype("int64")

    before = len(valid)
    consent = [c for c in BOOLEAN_FIELDS if c.startswith("consent_")]
    # The most restrictive consent wins across duplicates: an opt-out anywhere is an opt-out.
    restrictive = valid.groupby("supporter_id")[consent].transform("min")
    valid[consent] = restrictive
    valid = valid.drop_duplicates("supporter_id", keep="first").drop(columns="_line")
    merged = before - len(valid)

    counts = {
        "rows_read": len(frame),
        "quarantined": int(bad.sum()),
        "suppressed": 0,
        "duplicates_merged": merged,
        "valid": len(valid),
    }
    reasons = quarantine["reason"].value_counts().to_dict()
    return IngestResult(valid=valid.reset_index(drop=True), quarantine=quarantine, counts=counts, reasons=reasons)
