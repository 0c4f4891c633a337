"""The features a profile may use, the criteria the law forbids, and how features are encoded.

``ALLOWED_FEATURES`` is the allowlist ``profiles.yaml`` is checked against
(``check_criterion``); anything that reveals origin, religion, health, sexual life, union
membership or political opinions is refused citing ``CNIL_RULE``. The transformers turn the
allowed features into model columns (``model.build_profile_pipeline`` assembles them).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from matinale.geo import commune_arrays
from matinale.segment.errors import ForbiddenCriterionError, SegmentDefinitionError

__all__ = [
    "ALLOWED_FEATURES",
    "CNIL_RULE",
    "DEFAULT_INTERESTS",
    "FORBIDDEN_CRITERIA",
    "check_criterion",
]


#: Features a profile may use, and what each one reads.
ALLOWED_FEATURES: dict[str, str] = {
    "interests": "declared interests (multi-label, one column per vocabulary key)",
    "engagement": "events attended and shares in 30 days (log-scaled)",
    "involvement": "donor and volunteer flags",
    "density": "density class of the commune (INSEE population / area)",
    "unemployment": "unemployment rate of 15-64 year olds in the commune (INSEE)",
    "departement": "département of the commune (one-hot)",
    "age": "age on the edition date",
    "sex": "sex, when the supporter file has it",
}
#: Names that look like criteria but are served by allowed features: a helpful pointer.
_SERVED_BY: dict[str, str] = {
    "place_of_voting": "the place of voting is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "lieu_de_vote": "the place of voting is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "bureau_de_vote": "the place of voting is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "commune": "the commune is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "insee_com": "the commune is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "postal_code": "the commune is used through 'density', 'unemployment', 'departement' and territories.yaml",
    "events_attended": "use 'engagement'",
    "shares_30d": "use 'engagement'",
    "donor": "use 'involvement'",
    "volunteer": "use 'involvement'",
    "sexe": "use 'sex'",
    "gender": "use 'sex'",
    "genre": "use 'sex'",
    "birth_date": "use 'age' (computed on the edition date)",
}

#: The rule a forbidden criterion breaks, cited in every refusal.
CNIL_RULE = (
    "sensitive data may not be used to select or target people: RGPD art. 9 and loi "
    "Informatique et Libertés (n° 78-17) art. 6; the CNIL's recommendation on political "
    "files (délibération n° 2012-020 du 26 janvier 2012) allows sorting by age or address, "
    "not by the consonance of names or anything revealing origin, religion, health, sexual "
    "life, union membership or political opinions other than support for the campaign"
)

#: Forbidden criteria: category → patterns over a folded name (lowercase ASCII, ``_``).
# fmt: off
FORBIDDEN_CRITERIA: dict[str, tuple[str, ...]] = {
    "racial or ethnic origin": (r"ethni", r"\brace\b", r"racial", r"skin", r"couleur_de_peau", r"\borigin", r"origine"),
    "national origin or nationality": (r"nationalit", r"national_origin", r"citizenship", r"immigr", r"diaspora", r"pays_d_?origine"),
    "birthplace": (
        r"birth_?place", r"place_of_birth", r"country_of_birth", r"lieu_d?e?_?naissance", r"pays_d?e?_?naissance",
        r"commune_d?e?_?naissance", r"departement_d?e?_?naissance", r"ville_d?e?_?naissance", r"\bnee?_a\b",
    ),
    "name or name consonance": (
        r"^(first|last|given|family|sur|full|middle|maiden)_?name$", r"^name$", r"^nom$", r"^prenoms?$",
        r"^nom_(de_famille|d_usage|de_naissance|complet)$", r"consonan", r"onomast", r"patronym",
    ),
    "religion or beliefs": (r"relig", r"confession", r"\bfaith", r"croyance", r"belief", r"convictions?", r"\bculte\b"),
    "health": (
        r"health", r"etat_de_sante", r"dossier_medical", r"maladie", r"disease", r"handicap", r"disab", r"medical",
        r"patholog", r"diagnos", r"pregnan", r"grossesse", r"vaccin",
    ),
    "sex life or sexual orientation": (r"sexual", r"sexuel", r"orientation", r"lgbt"),
    "union membership": (r"trade_?union", r"union_member", r"syndica", r"labou?r_union"),
    "political opinion": (
        r"politi", r"opinion", r"\bparty\b", r"\bparti\b", r"\bvotes?\b", r"voting", r"intention_de_vote", r"ideolog",
        r"gauche", r"droite", r"abstention", r"electoral_history",
    ),
    "genetic or biometric data": (r"genet", r"biometr", r"\bdna\b", r"\badn\b"),
    "criminal record": (r"criminal", r"casier", r"condamnation", r"conviction_record"),
}
# fmt: on


#: The interest vocabulary when profiles.yaml gives none: key → French label.
DEFAULT_INTERESTS: dict[str, str] = {
    "pouvoir-achat": "pouvoir d'achat",
    "ecole": "école",
    "sante": "santé",
    "transition-ecologique": "transition écologique",
    "europe": "Europe",
    "securite": "sécurité",
    "emploi": "emploi",
    "logement": "logement",
    "culture": "culture",
    "agriculture": "agriculture",
}


def _fold(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def check_criterion(name: str, where: str) -> None:
    """Refuse ``name`` if it is not an allowed feature, citing the CNIL rule when it is sensitive."""
    if name in ALLOWED_FEATURES:
        return
    folded = _fold(name)
    if folded in _SERVED_BY:
        raise SegmentDefinitionError(f"{where} = {name!r} is not a feature: {_SERVED_BY[folded]}")
    # Word boundaries must see "vote_2022" as two words: match on spaces, not underscores.
    spaced = folded.replace("_", " ")
    for category, patterns in FORBIDDEN_CRITERIA.items():
        if any(re.search(pattern.replace("_", " "), spaced) for pattern in patterns):
            raise ForbiddenCriterionError(
                f"{where} = {name!r} is a forbidden criterion ({category}): {CNIL_RULE}. "
                f"Remove it; allowed features: {list(ALLOWED_FEATURES)}"
            )
    close = difflib.get_close_matches(name, list(ALLOWED_FEATURES), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise SegmentDefinitionError(
        f"{where} = {name!r} is not a known feature; {hint}use only {list(ALLOWED_FEATURES)}"
    )


def _interest_codes(
    values: pd.Series, vocabulary: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, dict[str, int], pd.Index]:
    """Factorised interests: per-row code, the 0/1 matrix of each distinct value, unknown keys' counts, the values."""
    codes, uniques = pd.factorize(values.astype("string").fillna(""), use_na_sentinel=False)
    position = {key: i for i, key in enumerate(vocabulary)}
    matrix = np.zeros((len(uniques), len(vocabulary)), dtype=np.float64)
    unknown_per_unique: list[list[str]] = []
    for row, value in enumerate(uniques):
        unknown = []
        for part in str(value).split("|"):
            key = _interest_key(part)
            if not key:
                continue
            if key in position:
                matrix[row, position[key]] = 1.0
            else:
                unknown.append(key)
        unknown_per_unique.append(unknown)
    counts = np.bincount(codes, minlength=len(uniques))
    unknown_counts: dict[str, int] = {}
    for row, keys in enumerate(unknown_per_unique):
        for key in keys:
            unknown_counts[key] = unknown_counts.get(key, 0) + int(counts[row])
    return codes.astype(np.int32), matrix, unknown_counts, pd.Index(uniques)


def _interest_key(text: str) -> str:
    # CRMs write "Santé" or "pouvoir achat": fold to the slug keys of the vocabulary.
    folded = unicodedata.normalize("NFKD", text.strip())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


# --------------------------------------------------------------------------- encoders


class _Stateless(BaseEstimator, TransformerMixin):
    """A transformer that learns nothing: ``fit`` returns it as it is."""

    def fit(self, X: Any, y: Any = None) -> Self:
        return self


class _TerritoryContext(_Stateless):
    """Join the INSEE commune table: density class, unemployment rate, département."""

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        geo = commune_arrays()
        rows = X["commune_row"].to_numpy()
        out = X.copy(deep=False)  # copy-on-write: the supporters' columns are not duplicated
        out["density_code"] = geo.density[rows]
        out["unemployment_rate"] = geo.unemployment[rows]
        out["departement_code"] = geo.dep[rows]
        return out


class _MultiLabel(_Stateless):
    """``"sante|ecole"`` → one 0/1 column per vocabulary key (unknown keys ignored)."""

    def __init__(self, vocabulary: tuple[str, ...] = ()) -> None:
        self.vocabulary = vocabulary

    def transform(self, X: Any) -> np.ndarray:
        column = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(np.asarray(X).ravel())
        if isinstance(column.dtype, pd.CategoricalDtype):
            # Already factorised (the night does it once for a million rows): decode the
            # few distinct values only.
            _, matrix, _, _ = _interest_codes(
                pd.Series(column.cat.categories, dtype="string"), self.vocabulary
            )
            codes = column.cat.codes.to_numpy()
            return np.vstack([matrix, np.zeros((1, len(self.vocabulary)))]).astype(np.float32)[
                codes
            ]
        codes, matrix, _, _ = _interest_codes(column, self.vocabulary)
        return matrix.astype(np.float32)[codes]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([f"interest:{key}" for key in self.vocabulary], dtype=object)


class _CodeOneHot(_Stateless):
    """Integer codes (-1 = unknown) → one-hot columns named ``prefix:category``."""

    def __init__(self, prefix: str = "", categories: tuple[str, ...] = ()) -> None:
        self.prefix = prefix
        self.categories = categories

    def transform(self, X: Any) -> np.ndarray:
        codes = np.asarray(X).ravel().astype(np.int64)
        out = np.zeros((codes.size, len(self.categories) + 1), dtype=np.float32)
        out[np.arange(codes.size), np.where(codes >= 0, codes, len(self.categories))] = 1.0
        return out[:, :-1]  # unknown: all zeros

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([f"{self.prefix}:{c}" for c in self.categories], dtype=object)


class _Log1p(_Stateless):
    """Counts → log(1 + count): a few very active people must not own a cluster."""

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = names

    def transform(self, X: Any) -> np.ndarray:
        return np.log1p(np.clip(np.asarray(X, dtype=np.float32), 0, None))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(self.names, dtype=object)


class _Imputed(BaseEstimator, TransformerMixin):
    """One numeric column, missing values replaced by the median seen at fit."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def fit(self, X: Any, y: Any = None) -> _Imputed:
        values = np.asarray(X, dtype=np.float64).ravel()
        self.median_ = float(np.nanmedian(values)) if np.isfinite(values).any() else 0.0
        return self

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=np.float32).reshape(-1, 1)
        return np.where(np.isfinite(values), values, np.float32(self.median_))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([self.name], dtype=object)


class _AsFloat(_Stateless):
    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = names

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(self.names, dtype=object)


class _WeightedScaler(BaseEstimator, TransformerMixin):
    """Standardise continuous columns, keep 0/1 columns as they are, then weigh each feature.

    The map is affine per column (``(x - offset_) * factor_``), so centroids move between
    the named raw space (kept in the state) and the model's space exactly.
    """

    def __init__(self, continuous: tuple[bool, ...] = (), weights: tuple[float, ...] = ()) -> None:
        self.continuous = continuous
        self.weights = weights

    def fit(self, X: np.ndarray, y: Any = None) -> _WeightedScaler:
        X = np.asarray(X, dtype=np.float64)
        continuous = np.asarray(self.continuous, dtype=bool)
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        std[std == 0] = 1.0
        self.offset_ = np.where(continuous, mean, 0.0)
        self.factor_ = np.where(continuous, 1.0 / std, 1.0) * np.asarray(
            self.weights, dtype=np.float64
        )
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        # float32 halves the memory a million rows take; centroids stay exact enough.
        out = np.subtract(np.asarray(X, dtype=np.float32), self.offset_.astype(np.float32))
        out *= self.factor_.astype(np.float32)  # in place: one copy of a million rows is enough
        return out

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) / self.factor_ + self.offset_
