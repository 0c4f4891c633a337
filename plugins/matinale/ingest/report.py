"""The quarantine report and the accounting of a run: ``IngestResult``, the reason codes and
their French hints, and when the share of quarantined rows must stop the night.

The report lists every problem (file, line, column, masked value, reason, hint); it is what
``matinale validate`` prints and what the ingest stage stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from matinale.ingest.read import RawSupporters
from matinale.ingest.schema import MAX_AGE, MIN_AGE
from matinale.privacy import mask_cell, neutralise_formula

__all__ = ["DEFAULT_MAX_QUARANTINE_SHARE", "REASONS", "IngestResult"]

DEFAULT_MAX_QUARANTINE_SHARE = 0.20

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
    # Quarantined for SMS only: the row stays (e-mail, pages), no SMS is sent to the number.
    "phone_landline": "Numéro fixe : il ne reçoit pas de SMS, aucun SMS ne lui sera envoyé (la personne reste inscrite) ; donnez un numéro de mobile (06 ou 07).",
    "phone_special_rate": "Numéro spécial (08…, gratuit ou surtaxé) : il ne reçoit pas de SMS, aucun SMS ne lui sera envoyé ; donnez un numéro de mobile.",
    "phone_not_mobile": "Numéro qui ne reçoit pas de SMS (ligne par internet en 09, bip…) : aucun SMS ne lui sera envoyé ; donnez un numéro de mobile.",
    "phone_extension": "Numéro suivi d’un poste (ext., poste) : un SMS ne peut pas joindre un poste, aucun SMS ne sera envoyé ; donnez un mobile sans poste dans la case.",
}
_QUARANTINE_COLUMNS = ("source_file", "line", "column", "value", "reason", "hint")


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
            "sms_quarantined": self.info.get("sms_quarantined", 0),
            "consent": self.info.get("consent", {}),
            "source": {
                key: self.info.get(key)
                for key in (
                    "source",
                    "format",
                    "encoding",
                    "delimiter",
                    "columns",
                    "ignored_columns",
                    "reference_date",
                )
            }
            # A file mixing encodings says how many lines each one read.
            | (
                {"encoding_lines": self.info["encoding_lines"]}
                if "encoding_lines" in self.info
                else {}
            ),
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


def _quarantine_frame(raw: RawSupporters, problems: _Problems) -> pd.DataFrame:
    parts = []
    for order, (column, reason, mask) in enumerate(problems.found):
        if reason != "wrong_field_count":
            mask = mask & ~raw.ragged  # a shifted row's cells mean nothing
        rows = np.flatnonzero(mask)
        if not rows.size:
            continue
        if reason == "wrong_field_count":
            shown = [
                f"{found} champs au lieu de {raw.expected_fields}"
                for found in raw.field_counts[rows]
            ]
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
        return pd.DataFrame(
            {
                name: pd.Series(dtype="int64" if name == "line" else "str")
                for name in _QUARANTINE_COLUMNS
            }
        )
    frame = pd.concat(parts, ignore_index=True).sort_values(["line", "_order"], kind="stable")
    frame.insert(0, "source_file", raw.source)
    return frame[list(_QUARANTINE_COLUMNS)].reset_index(drop=True)
