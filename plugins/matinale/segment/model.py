"""The profile model: the scikit-learn pipeline, the choice of k, the fit on a sample.

Territory context joined from the INSEE commune table → ``ColumnTransformer`` → weighted
scaling → ``KMeans``, fitted on a uniform sample and predicting every adult in chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from matinale.geo import commune_arrays
from matinale.segment.adults import _adults, _prepare, _required_columns
from matinale.segment.definitions import AgeBand, ProfileConfig
from matinale.segment.features import (
    _AsFloat,
    _CodeOneHot,
    _Imputed,
    _Log1p,
    _MultiLabel,
    _TerritoryContext,
    _WeightedScaler,
)

__all__ = ["build_profile_pipeline", "profile_matrix"]


# Rows used to compare k by silhouette (differences between k are far above its noise).
_SEARCH_SAMPLE = 10_000
_SILHOUETTE_SAMPLE = 3_000
_STICKY_SILHOUETTE = 0.02  # keep last night's k unless another k is clearly better
_CHUNK = 131_072  # rows predicted at once: bounds memory whatever the feature width


def _encoders(profiles: ProfileConfig) -> list[tuple[str, Any, Any, tuple[bool, ...]]]:
    """(feature, transformer, input columns, continuous flag per output column) for each feature."""
    geo = commune_arrays()
    vocabulary = tuple(profiles.interests)
    table: dict[str, tuple[Any, Any, tuple[bool, ...]]] = {
        "interests": (_MultiLabel(vocabulary), ["interests"], (False,) * len(vocabulary)),
        "engagement": (
            _Log1p(("events_log", "shares_log")),
            ["events_attended", "shares_30d"],
            (True, True),
        ),
        "involvement": (_AsFloat(("donor", "volunteer")), ["donor", "volunteer"], (False, False)),
        "density": (
            _CodeOneHot("density", tuple(geo.density_labels)),
            ["density_code"],
            (False,) * len(geo.density_labels),
        ),
        "unemployment": (_Imputed("unemployment_rate"), ["unemployment_rate"], (True,)),
        "departement": (
            _CodeOneHot("departement", tuple(geo.dep_codes)),
            ["departement_code"],
            (False,) * len(geo.dep_codes),
        ),
        "age": (_AsFloat(("age",)), ["age"], (True,)),
        "sex": (_CodeOneHot("sex", ("f", "m")), ["sex_code"], (False, False)),
    }
    return [(name, *table[name]) for name in profiles.features]


def build_profile_pipeline(profiles: ProfileConfig, k: int) -> Pipeline:
    """The profile model: territory context → ColumnTransformer → weighted scaling → KMeans.

    Input: a frame with ``interests``, ``events_attended``, ``shares_30d``, ``donor``,
    ``volunteer``, ``age``, ``commune_row`` (row in ``geo.communes_by_insee()``, -1 if
    unknown) and ``sex_code`` when ``sex`` is a feature.
    """
    from sklearn.cluster import KMeans

    encoders = _encoders(profiles)
    continuous: list[bool] = []
    weights: list[float] = []
    for name, _, _, flags in encoders:
        continuous.extend(flags)
        weights.extend([profiles.weights.get(name, 1.0)] * len(flags))
    encode = ColumnTransformer(
        [(name, transformer, columns) for name, transformer, columns, _ in encoders],
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [
            ("territory", _TerritoryContext()),
            ("encode", encode),
            ("scale", _WeightedScaler(tuple(continuous), tuple(weights))),
            ("cluster", KMeans(n_clusters=k, n_init=3, random_state=profiles.seed)),
        ]
    )


def _choose_k(
    scaled: np.ndarray, profiles: ProfileConfig, previous_k: int | None
) -> tuple[int, dict[str, float], str]:
    """Fixed k, or the best silhouette over the range on a subsample (sticky to last night's k)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    upper = max(1, min(profiles.k_max, len(scaled)))
    if profiles.k_min == profiles.k_max or upper <= profiles.k_min:
        return min(profiles.k_min, upper), {}, "fixe"
    rng = np.random.default_rng(profiles.seed)
    rows = (
        scaled
        if len(scaled) <= _SEARCH_SAMPLE
        else scaled[np.sort(rng.choice(len(scaled), _SEARCH_SAMPLE, replace=False))]
    )
    scores: dict[str, float] = {}
    for k in range(profiles.k_min, upper + 1):
        labels = KMeans(n_clusters=k, n_init=1, random_state=profiles.seed).fit_predict(rows)
        if len(np.unique(labels)) < 2:
            continue
        scores[str(k)] = float(
            silhouette_score(
                rows,
                labels,
                sample_size=min(_SILHOUETTE_SAMPLE, len(rows)),
                random_state=profiles.seed,
            )
        )
    if not scores:
        return profiles.k_min, scores, "fixe"
    best = max(scores, key=lambda key: (scores[key], -int(key)))
    if (
        previous_k is not None
        and str(previous_k) in scores
        and scores[str(previous_k)] >= scores[best] - _STICKY_SILHOUETTE
    ):
        return previous_k, scores, "silhouette (k de la veille conservé : à 0,02 du meilleur)"
    return int(best), scores, "silhouette"


@dataclass
class _Fit:
    pipeline: Pipeline
    cluster: np.ndarray  # cluster index per adult
    centers: np.ndarray  # in the model's (scaled) space
    centers_raw: np.ndarray  # in the named feature space
    sizes: np.ndarray
    names: list[str]
    report: dict[str, Any]

    @property
    def k(self) -> int:
        return len(self.centers)

    @property
    def scaler(self) -> _WeightedScaler:
        return self.pipeline.named_steps["scale"]


def _fit_profiles(
    model_input: pd.DataFrame, profiles: ProfileConfig, previous_k: int | None
) -> _Fit:
    """Fit the pipeline on a uniform sample, choose k, predict every adult in chunks."""
    n = len(model_input)
    rng = np.random.default_rng(profiles.seed)
    sample = (
        np.arange(n)
        if n <= profiles.sample_size
        else np.sort(rng.choice(n, profiles.sample_size, replace=False))
    )
    pipeline = build_profile_pipeline(profiles, 1)
    scaled = pipeline[:-1].fit_transform(model_input.iloc[sample])
    k, scores, method = _choose_k(scaled, profiles, previous_k)
    k = max(1, min(k, len(sample)))
    # The transform steps are fitted already: fit the clustering step alone on their output.
    pipeline.set_params(cluster__n_clusters=k)
    model = pipeline.named_steps["cluster"].fit(scaled)
    cluster = np.empty(n, dtype=np.int64)
    for start in range(0, n, _CHUNK):
        # Chunks bound the memory of the encoded matrix (a million rows × 130 columns with
        # the département one-hot would be half a gigabyte at once).
        cluster[start : start + _CHUNK] = pipeline.predict(model_input.iloc[start : start + _CHUNK])
    names = [str(n) for n in pipeline.named_steps["encode"].get_feature_names_out()]
    centers = model.cluster_centers_.astype(np.float64)
    report = {
        "pipeline": "territoire (INSEE) → ColumnTransformer → pondération → KMeans",
        "features": list(profiles.features),
        "columns": names,
        "k": k,
        "k_method": method,
        "silhouette": scores,
        "sample_size": int(len(sample)),
        "seed": profiles.seed,
        "inertia_per_row": round(float(model.inertia_ / len(sample)), 4),
    }
    return _Fit(
        pipeline=pipeline,
        cluster=cluster,
        centers=centers,
        centers_raw=pipeline.named_steps["scale"].inverse_transform(centers),
        sizes=np.bincount(cluster, minlength=k),
        names=names,
        report=report,
    )


def profile_matrix(
    features: pd.DataFrame, bands: Sequence[AgeBand], profiles: ProfileConfig
) -> tuple[np.ndarray, list[str]]:
    """The encoded, scaled matrix of every adult the profile model clusters, and its column names.

    For inspection and benchmarks: the night itself fits on a sample and predicts in chunks.
    """
    _required_columns(features, profiles.features)
    frame, ages, _ = _adults(features.reset_index(drop=True), None)
    _, model_input, _ = _prepare(frame, ages, bands, profiles)
    pipeline = build_profile_pipeline(profiles, 1)
    matrix = pipeline[:-1].fit_transform(model_input)
    return matrix, [str(n) for n in pipeline.named_steps["encode"].get_feature_names_out()]
