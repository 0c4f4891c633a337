"""What a group of adults looks like, as published: per-cell sums, descriptors, labels, sizes.

Sizes that leave the private store are rounded to 10 (``round_size``); counts under the
minimum segment size are masked (``_masked_count``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from matinale.geo import commune_arrays
from matinale.segment.adults import _Rows
from matinale.segment.definitions import ProfileConfig
from matinale.segment.identity import _profile_number
from matinale.segment.model import _Fit

__all__ = ["round_size"]


_MAX_AGE_BIN = 121


def round_size(size: int) -> int:
    """Sizes shown outside the private store: to the nearest 10 (halves up)."""
    return int((int(size) + 5) // 10 * 10)


def _masked_count(count: int, minimum: int) -> int | str:
    # Counts below the minimum are shown as "<minimum": the report never pins down a handful.
    return int(count) if count >= minimum else f"<{minimum}"


def _quantiles(histogram: np.ndarray, points: Sequence[float]) -> list[int | None]:
    total = histogram.sum()
    if total == 0:
        return [None for _ in points]
    cumulative = np.cumsum(histogram) / total
    return [int(np.searchsorted(cumulative, p)) for p in points]


def _aggregate(rows: _Rows, cells: np.ndarray, ncells: int) -> dict[str, np.ndarray]:
    """Per-cell sums (bincount): counts, interests, density, départements, ages, engagement."""
    geo = commune_arrays()
    nd = len(geo.density_labels) + 1
    ndep = len(geo.dep_codes) + 1
    nu = rows.interest_matrix.shape[0]
    density_code = geo.density[rows.commune].astype(np.int64)
    density_code[density_code < 0] = nd - 1
    dep_code = rows.dep.astype(np.int64)
    dep_code[dep_code < 0] = ndep - 1
    unemployment = geo.unemployment[rows.commune]
    known = np.isfinite(unemployment)
    by_value = np.bincount(cells * nu + rows.interest, minlength=ncells * nu).reshape(ncells, nu)
    ages = np.clip(rows.age, 0, _MAX_AGE_BIN - 1)
    return {
        "count": np.bincount(cells, minlength=ncells),
        "interests": by_value @ rows.interest_matrix,
        "density": np.bincount(cells * nd + density_code, minlength=ncells * nd).reshape(
            ncells, nd
        ),
        "dep": np.bincount(cells * ndep + dep_code, minlength=ncells * ndep).reshape(ncells, ndep),
        "age": np.bincount(cells * _MAX_AGE_BIN + ages, minlength=ncells * _MAX_AGE_BIN).reshape(
            ncells, _MAX_AGE_BIN
        ),
        "events": np.bincount(cells, weights=rows.events, minlength=ncells),
        "shares": np.bincount(cells, weights=rows.shares, minlength=ncells),
        "donor": np.bincount(cells, weights=rows.donor, minlength=ncells),
        "volunteer": np.bincount(cells, weights=rows.volunteer, minlength=ncells),
        "unemployment_sum": np.bincount(
            cells[known], weights=unemployment[known], minlength=ncells
        ),
        "unemployment_n": np.bincount(cells[known], minlength=ncells),
    }


def _describe(
    aggregates: Mapping[str, np.ndarray], cells: np.ndarray, vocabulary: Sequence[str]
) -> dict[str, Any]:
    """What a group of cells (a segment, a profile, a band) looks like: shares and means."""
    geo = commune_arrays()
    count = int(aggregates["count"][cells].sum())
    per_person = max(count, 1)
    interests = aggregates["interests"][cells].sum(axis=0) / per_person
    density = aggregates["density"][cells].sum(axis=0)
    deps = aggregates["dep"][cells].sum(axis=0)
    known_density, known_dep = density[:-1].sum(), deps[:-1].sum()
    unemployment_n = aggregates["unemployment_n"][cells].sum()
    order = np.argsort(-interests, kind="stable")
    p10, p25, p50, p75, p90 = _quantiles(
        aggregates["age"][cells].sum(axis=0), (0.10, 0.25, 0.50, 0.75, 0.90)
    )
    return {
        "size": count,
        "age": {"p10": p10, "p25": p25, "median": p50, "p75": p75, "p90": p90},
        "interests": {
            vocabulary[i]: round(float(interests[i]), 3) for i in order if interests[i] > 0
        },
        "top_interests": [vocabulary[i] for i in order[:3] if interests[i] > 0],
        "density": {
            label: round(float(density[i] / known_density), 3) if known_density else 0.0
            for i, label in enumerate(geo.density_labels)
        },
        "departements": [
            {
                "code": geo.dep_codes[i],
                "name": geo.dep_names[i],
                "share": round(float(deps[i] / known_dep), 3),
            }
            for i in np.argsort(-deps[:-1], kind="stable")[:3]
            if known_dep and deps[i] > 0
        ],
        "unemployment_rate": round(
            float(aggregates["unemployment_sum"][cells].sum() / unemployment_n), 4
        )
        if unemployment_n
        else None,
        "events_mean": round(float(aggregates["events"][cells].sum() / per_person), 2),
        "shares_mean": round(float(aggregates["shares"][cells].sum() / per_person), 2),
        "donor_share": round(float(aggregates["donor"][cells].sum() / per_person), 3),
        "volunteer_share": round(float(aggregates["volunteer"][cells].sum() / per_person), 3),
        "place_unknown": int(density[-1]),
    }


def _distinguishing_label(
    descriptor: Mapping[str, Any],
    reference: Mapping[str, Any],
    interests: Mapping[str, str],
    extra: int = 0,
) -> str:
    """A short French label from what sets a group apart from ``reference``: place, interest, engagement."""
    parts: list[str] = []
    more: list[str] = []
    # Territory: a density class most of the group shares, clearly above the reference.
    density = descriptor["density"]
    dominant = max(density, key=lambda key: (density[key], key)) if density else None
    if (
        dominant
        and density[dominant] >= 0.5
        and density[dominant] >= 1.15 * max(reference["density"].get(dominant, 0.0), 1e-9)
    ):
        parts.append(dominant)
    elif descriptor["departements"] and descriptor["departements"][0]["share"] >= 0.4:
        parts.append(descriptor["departements"][0]["name"])
    # Interest: the highest lift among interests at least a quarter of the group holds.
    lifts = sorted(
        (
            (share / reference["interests"][key], share, key)
            for key, share in descriptor["interests"].items()
            if share >= 0.25 and reference["interests"].get(key, 0) > 0
        ),
        key=lambda item: (-item[0], -item[1], item[2]),
    )
    if lifts:
        parts.append(interests.get(lifts[0][2], lifts[0][2]))
        more.extend(interests.get(key, key) for _, _, key in lifts[1:3])
    # Engagement against the reference.
    events, shares = descriptor["events_mean"], descriptor["shares_mean"]
    if descriptor["volunteer_share"] >= 0.3 and descriptor["volunteer_share"] >= 1.5 * max(
        reference["volunteer_share"], 1e-9
    ):
        parts.append("bénévoles")
    elif events >= 1 and events >= 1.5 * max(reference["events_mean"], 0.1):
        parts.append("très mobilisés")
    elif shares >= 1 and shares >= 1.5 * max(reference["shares_mean"], 0.1):
        parts.append("relais en ligne")
    elif events <= 0.5 * reference["events_mean"] and shares <= 0.5 * reference["shares_mean"]:
        parts.append("discrets")
    if descriptor["donor_share"] >= 0.3 and descriptor["donor_share"] >= 1.5 * max(
        reference["donor_share"], 1e-9
    ):
        more.insert(0, "donateurs")
    rate, base_rate = descriptor["unemployment_rate"], reference["unemployment_rate"]
    if rate is not None and base_rate:
        if rate >= 1.3 * base_rate:
            more.append("chômage élevé")
        elif rate <= 0.75 * base_rate:
            more.append("chômage faible")
    parts.extend(more[:extra])
    return " · ".join(parts) if parts else "profil mixte"


def _unique_label(
    descriptor: Mapping[str, Any],
    reference: Mapping[str, Any],
    interests: Mapping[str, str],
    taken: set[str],
    profile_id: str,
) -> str:
    """The shortest distinguishing label not taken yet; the profile id as a last resort."""
    label = ""
    for extra in range(4):
        label = _distinguishing_label(descriptor, reference, interests, extra)
        if label not in taken:
            return label
    return f"{label} · profil {profile_id}"


def _label_profiles(
    fit: _Fit,
    aggregates: Mapping[str, np.ndarray],
    kept: list[str],
    profile_ids: list[str],
    profiles: ProfileConfig,
    nb: int,
) -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
    """Profile labels (kept ones first, then new ones made unique) and profile descriptors."""
    k = fit.k
    cell_ids = np.arange(nb * k)
    vocabulary = tuple(profiles.interests)
    overall = _describe(aggregates, cell_ids, vocabulary)
    descriptors = [_describe(aggregates, cell_ids[cell_ids % k == c], vocabulary) for c in range(k)]
    labels = list(kept)
    taken = {label for label in labels if label}
    for c in sorted(range(k), key=lambda c: _profile_number(profile_ids[c])):
        if not labels[c]:
            labels[c] = _unique_label(
                descriptors[c], overall, profiles.interests, taken, profile_ids[c]
            )
            taken.add(labels[c])
    return labels, descriptors, overall
