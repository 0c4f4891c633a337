"""Who is segmented tonight (adults on the edition date) and the per-adult arrays the night uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from matinale.geo import commune_arrays, commune_rows
from matinale.privacy import ADULT_AGE
from matinale.segment.definitions import AgeBand, ProfileConfig
from matinale.segment.errors import SegmentationError
from matinale.segment.features import _interest_codes

__all__ = ["ages_on"]


def ages_on(birth_dates: pd.Series, edition: date) -> pd.Series:
    """Age in whole years on ``edition`` (a Paris date) for ISO or dd/mm/yyyy birth dates; NA if unreadable."""
    text = birth_dates.astype("string")
    born = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").fillna(
        pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    )
    years = edition.year - born.dt.year
    before_birthday = (born.dt.month > edition.month) | (
        (born.dt.month == edition.month) & (born.dt.day > edition.day)
    )
    return (years - before_birthday.astype("Int64")).astype("Int64")


@dataclass
class _Rows:
    """Per-adult arrays: everything the night needs besides the model."""

    supporter_id: pd.Series  # Arrow-backed text: never converted to Python objects
    age: np.ndarray
    band: np.ndarray
    commune: np.ndarray
    dep: np.ndarray
    interest: np.ndarray
    interest_matrix: np.ndarray
    events: np.ndarray
    shares: np.ndarray
    donor: np.ndarray
    volunteer: np.ndarray

    def subset(self, mask: np.ndarray) -> _Rows:
        return _Rows(
            supporter_id=self.supporter_id[mask].reset_index(drop=True),
            age=self.age[mask],
            band=self.band[mask],
            commune=self.commune[mask],
            dep=self.dep[mask],
            interest=self.interest[mask],
            interest_matrix=self.interest_matrix,
            events=self.events[mask],
            shares=self.shares[mask],
            donor=self.donor[mask],
            volunteer=self.volunteer[mask],
        )


def _required_columns(frame: pd.DataFrame, features: tuple[str, ...]) -> None:
    needs = {"supporter_id": "always", "age": "always"}
    for name, columns in (
        ("interests", ["interests"]),
        ("engagement", ["events_attended", "shares_30d"]),
        ("involvement", ["donor", "volunteer"]),
    ):
        if name in features:
            needs.update({column: f"feature '{name}'" for column in columns})
    missing = [f"'{c}' (needed {why})" for c, why in needs.items() if c not in frame]
    if missing:
        raise SegmentationError(
            f"the segmentation input has no column {', '.join(missing)}; check the privacy stage's output (features.parquet)"
        )
    if {"density", "unemployment", "departement"} & set(features) and not {
        "insee_com",
        "postal_code",
    } & set(frame):
        raise SegmentationError(
            "territory features need 'insee_com' or 'postal_code' in the segmentation input; add one to the supporter file"
        )


def _adults(frame: pd.DataFrame, edition: date | None) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Adults on the edition date, their ages, and how many minors were left out."""
    # Ingest computed ``age`` on the edition date already; a birth date in the input is
    # recomputed here so that the rule holds whatever produced the frame.
    ages = frame["age"].astype("Int64")
    if "birth_date" in frame and edition is not None:
        ages = ages_on(frame["birth_date"], edition).fillna(ages)
    years = ages.fillna(-1).to_numpy(np.int64)
    adult = years >= ADULT_AGE
    return frame.loc[adult].reset_index(drop=True), years[adult], int((~adult).sum())


def _model_input(
    frame: pd.DataFrame,
    commune: np.ndarray,
    interests: pd.Categorical | None,
    features: tuple[str, ...],
) -> pd.DataFrame:
    # Columns are taken as they are (text stays Arrow-backed, interests are factorised once):
    # converting a million strings to Python objects and back costs more than the clustering.
    present = [c for c in ("events_attended", "shares_30d", "donor", "volunteer") if c in frame]
    model_input = frame[present].copy(deep=False)
    if interests is not None:
        model_input["interests"] = interests
    model_input["age"] = frame["age"].to_numpy(np.float64)
    model_input["commune_row"] = commune
    if "sex" in features:
        codes = np.full(len(frame), -1, dtype=np.int64)
        if "sex" in frame:
            # F/Femme/W/Woman, M/Masculin/H/Homme: the first letter in French or English.
            initial = frame["sex"].astype("string").str.strip().str.lower().str[:1].fillna("")
            codes = np.select(
                [initial.isin(["f", "w"]), initial.isin(["m", "h"])], [0, 1], default=-1
            )
        model_input["sex_code"] = codes
    return model_input


def _prepare(
    frame: pd.DataFrame, ages: np.ndarray, bands: Sequence[AgeBand], profiles: ProfileConfig
) -> tuple[_Rows, pd.DataFrame, dict[str, Any]]:
    """Per-row arrays, the model's input frame and what the report says about the input."""
    minimum = profiles.min_segment_size
    commune = commune_rows(frame)
    edges = np.array([b.min for b in bands[1:]])
    interests_column = (
        frame["interests"] if "interests" in frame else pd.Series([""] * len(frame), dtype="string")
    )
    interest, matrix, unknown, values = _interest_codes(interests_column, tuple(profiles.interests))

    def numbers(column: str) -> np.ndarray:
        return frame[column].to_numpy(np.float64) if column in frame else np.zeros(len(frame))

    rows = _Rows(
        supporter_id=frame["supporter_id"].reset_index(drop=True),
        age=ages,
        band=np.searchsorted(edges, ages, side="right").astype(np.int64),
        commune=commune,
        dep=commune_arrays().dep[commune],
        interest=interest,
        interest_matrix=matrix,
        events=numbers("events_attended"),
        shares=numbers("shares_30d"),
        donor=numbers("donor"),
        volunteer=numbers("volunteer"),
    )
    categorical = (
        pd.Categorical.from_codes(interest, categories=values) if "interests" in frame else None
    )
    notes: dict[str, Any] = {
        "place_unknown": int((commune < 0).sum()),
        "interests_unknown": {
            "rows_with_unknown_keys": int(sum(unknown.values())),
            # Only keys many people share: a rare free-text value could say something about one person.
            "frequent_keys": {
                k: v
                for k, v in sorted(unknown.items(), key=lambda kv: (-kv[1], kv[0]))
                if v >= minimum
            },
        },
    }
    if "sex" in profiles.features and "sex" not in frame:
        notes["notes"] = [
            "'sex' est dans profiles.yaml mais le fichier des soutiens n'a pas de colonne sexe : variable vide ce soir"
        ]
    return rows, _model_input(frame, commune, categorical, profiles.features), notes
