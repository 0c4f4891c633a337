"""Segment adults by age band × profile (k-means on allowed features only).

Segment ids are ``<band>-<profile>`` slugs (e.g. ``65plus-p03``). Assignments (who is in
which segment) are private; only segment-level descriptions reach the bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

__all__ = [
    "AgeBand",
    "ProfileConfig",
    "SegmentationError",
    "SegmentationResult",
    "load_age_bands",
    "load_profiles",
    "segment_supporters",
]

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ALLOWED_FEATURES = ("interests", "engagement", "density", "unemployment", "age", "departement")
INTEREST_LABELS = {
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


class SegmentationError(ValueError):
    """A segment definition is wrong: the message names the file, the key and the fix."""


@dataclass(frozen=True)
class AgeBand:
    id: str
    label: str
    min: int
    max: int
    framing: str


@dataclass(frozen=True)
class ProfileConfig:
    features: tuple[str, ...]
    clusters: int
    min_segment_size: int
    seed: int


@dataclass
class SegmentationResult:
    assignments: pd.DataFrame  # supporter_id, segment_id (private)
    segments: list[dict[str, Any]]  # public descriptions, sizes rounded
    report: dict[str, Any]


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SegmentationError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise SegmentationError(f"{path}: not valid YAML: {exc}") from exc


def load_age_bands(path: Path) -> list[AgeBand]:
    """Read and check ``age_bands.yaml``: slugs, no overlap, no gap."""
    raw = _load_yaml(path) or {}
    items = raw.get("bands") if isinstance(raw, dict) else None
    if not items:
        raise SegmentationError(f"{path}: 'bands' is missing or empty; list bands with id, label, min, max")
    bands = []
    for index, item in enumerate(items):
        where = f"{path}: bands[{index}]"
        try:
            band = AgeBand(
                id=str(item["id"]),
                label=str(item["label"]),
                min=int(item["min"]),
                max=int(item["max"]),
                framing=str(item.get("framing", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SegmentationError(f"{where}: needs id, label, min and max (integers): {exc}") from exc
        if not SLUG.match(band.id):
            raise SegmentationError(f"{where}.id = {band.id!r} must be a slug (a-z, 0-9, '-')")
        if band.min > band.max:
            raise SegmentationError(f"{where}: min {band.min} is above max {band.max}")
        bands.append(band)
    bands.sort(key=lambda b: b.min)
    for before, after in zip(bands, bands[1:], strict=False):
        if after.min <= before.max:
            raise SegmentationError(f"{path}: bands '{before.id}' and '{after.id}' overlap; make min of '{after.id}' = {before.max + 1}")
        if after.min > before.max + 1:
            raise SegmentationError(f"{path}: ages {before.max + 1}–{after.min - 1} fall in no band; extend '{before.id}' or '{after.id}'")
    return bands


def load_profiles(path: Path) -> ProfileConfig:
    """Read and check ``profiles.yaml``."""
    raw = _load_yaml(path) or {}
    features = tuple(raw.get("features") or ())
    unknown = sorted(set(features) - set(ALLOWED_FEATURES))
    if unknown:
        raise SegmentationError(f"{path}: features {unknown} are not allowed; use only {list(ALLOWED_FEATURES)}")
    if not features:
        raise SegmentationError(f"{path}: 'features' is empty; list at least one of {list(ALLOWED_FEATURES)}")
    clusters = int(raw.get("clusters", 4))
    if not 1 <= clusters <= 50:
        raise SegmentationError(f"{path}: clusters = {clusters} is out of range 1..50")
    return ProfileConfig(
        features=features,
        clusters=clusters,
        min_segment_size=int(raw.get("min_segment_size", 50)),
        seed=int(raw.get("seed", 42)),
    )


def _feature_matrix(frame: pd.DataFrame, features: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    from matinale.geo import communes_by_insee

    columns: dict[str, np.ndarray] = {}
    if "interests" in features:
        for key in INTEREST_LABELS:
            columns[f"interest:{key}"] = frame["interests"].str.contains(rf"(?:^|\|){re.escape(key)}(?:\||$)", regex=True).to_numpy(float)
    if "engagement" in features:
        columns["events"] = np.log1p(frame["events_attended"].to_numpy(float))
        columns["shares"] = np.log1p(frame["shares_30d"].to_numpy(float))
    if "density" in features or "unemployment" in features:
        table = communes_by_insee()
        joined = table.reindex(frame["insee_com"].astype(str))
        if "density" in features:
            for cls in sorted(table["density_class"].dropna().unique()):
                columns[f"density:{cls}"] = (joined["density_class"] == cls).to_numpy(float)
        if "unemployment" in features:
            rate = joined["unemployment_rate"].to_numpy(float)
            columns["unemployment"] = np.nan_to_num(rate, nan=float(np.nanmean(rate)) if np.isfinite(rate).any() else 0.0)
    if "age" in features:
        columns["age"] = frame["age"].to_numpy(float)
    names = list(columns)
    matrix = np.column_stack([columns[n] for n in names]) if names else np.zeros((len(frame), 0))
    std = matrix.std(axis=0)
    std[std == 0] = 1.0
    return (matrix - matrix.mean(axis=0)) / std, names


def _round(size: int) -> int:
    return int(round(size / 10.0) * 10)


def segment_supporters(features: pd.DataFrame, bands: list[AgeBand], profiles: ProfileConfig) -> SegmentationResult:
    """Assign every adult to one ``<band>-<profile>`` segment and describe the segments."""
    from sklearn.cluster import KMeans

    matrix, names = _feature_matrix(features, profiles.features)
    k = min(profiles.clusters, max(1, len(features)))
    model = KMeans(n_clusters=k, random_state=profiles.seed, n_init=4).fit(matrix)
    # Order clusters by size so p01 is the largest profile: deterministic ids for a given input.
    order = np.argsort(-np.bincount(model.labels_, minlength=k), kind="stable")
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    profile = rank[model.labels_] + 1

    edges = [b.min for b in bands] + [bands[-1].max + 1]
    band_index = np.searchsorted(edges, features["age"].to_numpy(), side="right") - 1
    band_ids = np.array([b.id for b in bands])[band_index]
    segment_ids = pd.Series([f"{b}-p{p:02d}" for b, p in zip(band_ids, profile, strict=True)], index=features.index)

    # Merge segments under the minimum size into the largest segment of the same band.
    sizes = segment_ids.value_counts()
    for seg, size in sizes.items():
        if size >= profiles.min_segment_size:
            continue
        band = seg.rsplit("-p", 1)[0]
        peers = sizes[[s for s in sizes.index if s.startswith(band + "-p") and s != seg and sizes[s] >= profiles.min_segment_size]]
        if len(peers):
            segment_ids[segment_ids == seg] = peers.idxmax()
    assignments = pd.DataFrame({"supporter_id": features["supporter_id"].to_numpy(), "segment_id": segment_ids.to_numpy()})

    segments = []
    band_by_id = {b.id: b for b in bands}
    overall = features["interests"].str.split("|").explode().value_counts(normalize=True)
    for seg, members in assignments.groupby("segment_id", sort=True):
        if len(members) < profiles.min_segment_size:
            continue  # a band too small as a whole: never published (see report)
        band = band_by_id[seg.rsplit("-p", 1)[0]]
        rows = features.loc[members.index]
        interests = rows["interests"].str.split("|").explode().value_counts(normalize=True)
        lift = (interests / overall.reindex(interests.index)).sort_values(ascending=False)
        top = [str(i) for i in interests.head(3).index if i]
        distinctive = str(lift.index[0]) if len(lift) else ""
        segments.append(
            {
                "id": seg,
                "band": band.id,
                "band_label": band.label,
                "framing": band.framing,
                "profile": seg.rsplit("-", 1)[1],
                "label": f"{band.label} · {INTEREST_LABELS.get(distinctive, distinctive)}",
                "size": _round(len(members)),
                "top_interests": top,
            }
        )
    report = {
        "adults": len(features),
        "segments": len(segments),
        "features": names,
        "unpublished_small": int(sum(1 for s, m in assignments.groupby("segment_id") if len(m) < profiles.min_segment_size)),
    }
    return SegmentationResult(assignments=assignments, segments=segments, report=report)
