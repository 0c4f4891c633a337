"""The night's segmentation: adults → profiles → ``<band>-<profile>`` segments, packs on top.

``segment_supporters`` runs every step (see the package docstring) and returns the private
assignments and memberships, the public segment list, the staff report and the next state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from matinale.segment.adults import _adults, _prepare, _required_columns
from matinale.segment.definitions import AgeBand, ProfileConfig, TerritoryPack
from matinale.segment.describe import (
    _aggregate,
    _describe,
    _label_profiles,
    _masked_count,
    _unique_label,
    round_size,
)
from matinale.segment.errors import NotEnoughSupportersError
from matinale.segment.identity import _match_profiles, _next_state, _profile_number, _read_state
from matinale.segment.model import _Fit, _fit_profiles
from matinale.segment.report import _representativeness_arrays
from matinale.segment.territories import _territorial_packs
from matinale.segment.types import Segment

__all__ = ["SegmentationResult", "segment_supporters"]


@dataclass
class SegmentationResult:
    assignments: pd.DataFrame  # supporter_id, segment_id, profile_id (private)
    memberships: pd.DataFrame  # supporter_id, pack_id (private)
    segments: list[Segment]  # public descriptions, sizes rounded
    report: dict[str, Any]
    state: dict[str, Any] | None  # to store at STATE_KEY; None when it must not change


def _band_groups(band_sizes: np.ndarray, minimum: int) -> list[list[int]]:
    """Contiguous groups of bands, each with at least ``minimum`` adults (or none)."""
    groups = [[i] for i in range(band_sizes.size)]
    sizes = [int(s) for s in band_sizes]
    while len(groups) > 1:
        small = [g for g in range(len(groups)) if 0 < sizes[g] < minimum]
        if not small:
            break
        g = min(small, key=lambda i: (sizes[i], i))
        neighbours = [n for n in (g - 1, g + 1) if 0 <= n < len(groups)]
        # The smaller neighbour absorbs it: merged groups stay as balanced as they can.
        n = min(neighbours, key=lambda i: (sizes[i], -i))
        low, high = sorted((g, n))
        groups[low : high + 1] = [groups[low] + groups[high]]
        sizes[low : high + 1] = [sizes[low] + sizes[high]]
    return groups


def _span_label(bands: Sequence[AgeBand]) -> str:
    low, high = bands[0].min, bands[-1].max
    return f"{low} ans et +" if high >= 110 else f"{low}–{high} ans"


@dataclass
class _Built:
    segments: list[Segment]
    descriptors: list[dict[str, Any]]
    segment_of_cell: np.ndarray
    labels: dict[str, str]  # segment id → label without the band (kept in the state)
    band_merges: list[dict[str, Any]]
    merges: list[dict[str, Any]]


def _merge_small(
    sizes: np.ndarray, fit: _Fit, profile_ids: list[str], minimum: int, band_id: str
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Owner cluster per cluster of one band: small segments go to the nearest profile."""
    k = fit.k
    owner = np.arange(k)
    sizes = sizes.copy()
    merges: list[dict[str, Any]] = []
    while True:
        small = [c for c in range(k) if owner[c] == c and 0 < sizes[c] < minimum]
        others = [o for o in range(k) if owner[o] == o and sizes[o] > 0]
        if not small or len(others) < 2:
            return owner, merges
        c = min(small, key=lambda c: (sizes[c], _profile_number(profile_ids[c])))
        target = min(
            (o for o in others if o != c),
            key=lambda o: (
                float(np.linalg.norm(fit.centers[c] - fit.centers[o])),
                _profile_number(profile_ids[o]),
            ),
        )
        merges.append(
            {
                "from": f"{band_id}-{profile_ids[c]}",
                "into": f"{band_id}-{profile_ids[target]}",
                "size": _masked_count(int(sizes[c]), minimum),
                "reason": "segment sous la taille minimale : fusionné avec le profil le plus proche de la même tranche",
            }
        )
        owner[owner == c] = target
        sizes[target] += sizes[c]
        sizes[c] = 0


def _build_segments(
    fit: _Fit,
    aggregates: Mapping[str, np.ndarray],
    bands: Sequence[AgeBand],
    profile_ids: list[str],
    kept_labels: Mapping[str, str],
    profiles: ProfileConfig,
    minimum: int,
) -> _Built:
    """Band × profile segments, after merging what is under the minimum size."""
    k, nb = fit.k, len(bands)
    vocabulary = tuple(profiles.interests)
    counts = aggregates["count"].reshape(nb, k)
    band_sizes = counts.sum(axis=1)
    groups = _band_groups(band_sizes, minimum)
    built = _Built([], [], np.full(nb * k, -1, dtype=np.int64), {}, [], [])
    for group in groups:
        group_cells = np.array([[b * k + c for c in range(k)] for b in group])  # bands × clusters
        sizes = counts[group].sum(axis=0)
        if sizes.sum() == 0:
            continue
        # The band with most adults lends its id and framing to a merged group.
        rep = bands[max(group, key=lambda i: (band_sizes[i], -i))]
        members_bands = [bands[i] for i in group]
        band_label = rep.label if len(group) == 1 else _span_label(members_bands)
        if len(group) > 1:
            built.band_merges.append(
                {
                    "bands": [b.id for b in members_bands],
                    "adults": _masked_count(int(band_sizes[group].sum()), minimum),
                    "kept_id": rep.id,
                    "label": band_label,
                    "reason": "tranche trop petite : regroupée avec sa voisine",
                }
            )
        owner, merges = _merge_small(sizes, fit, profile_ids, minimum, rep.id)
        built.merges.extend(merges)
        reference = _describe(aggregates, group_cells.ravel(), vocabulary)
        kept = sorted(
            (c for c in range(k) if owner[c] == c and sizes[owner == c].sum() > 0),
            key=lambda c: _profile_number(profile_ids[c]),
        )
        descriptors = {
            c: _describe(aggregates, group_cells[:, owner == c].ravel(), vocabulary) for c in kept
        }
        # Labels: kept from earlier nights first, then new ones made unique within the band.
        specific = {c: kept_labels.get(f"{rep.id}-{profile_ids[c]}", "") for c in kept}
        taken = {label for label in specific.values() if label}
        for c in kept:
            if not specific[c]:
                specific[c] = _unique_label(
                    descriptors[c], reference, profiles.interests, taken, profile_ids[c]
                )
                taken.add(specific[c])
        for c in kept:
            segment_id = f"{rep.id}-{profile_ids[c]}"
            built.segment_of_cell[group_cells[:, owner == c].ravel()] = len(built.segments)
            built.labels[segment_id] = specific[c]
            built.descriptors.append(descriptors[c])
            built.segments.append(
                Segment(
                    id=segment_id,
                    kind="main",
                    band=rep.id,
                    band_label=band_label,
                    framing=rep.framing,
                    profile=profile_ids[c],
                    label=f"{band_label} · {specific[c]}",
                    size=round_size(descriptors[c]["size"]),
                    top_interests=tuple(descriptors[c]["top_interests"]),
                    merged_bands=tuple(b.id for b in members_bands if b.id != rep.id),
                )
            )
    return built


def segment_supporters(
    features: pd.DataFrame,
    bands: list[AgeBand],
    profiles: ProfileConfig,
    *,
    territories: Sequence[TerritoryPack] = (),
    state: Mapping[str, Any] | None = None,
    edition: date | None = None,
    run: str = "",
    min_segment_size: int | None = None,
    minors_excluded: int = 0,
    threads: int = 1,
) -> SegmentationResult:
    """Assign every adult to one ``<band>-<profile>`` segment, territorial packs on top.

    ``features`` is the privacy stage's output (one row per supporter). ``state`` is the
    JSON stored at ``STATE_KEY`` after the previous night (None the first night); the
    result's ``state`` is what to store there next (None for an edition older than the
    stored one: a backfill never rewinds identities). The minimum segment size is the
    larger of ``profiles.min_segment_size`` and ``min_segment_size`` (campaign.yaml's
    privacy floor). ``threads`` caps the OpenMP/BLAS threads: on 2 cores shared with other
    work, one thread measured faster than two (the bench's segment stage).
    """
    from threadpoolctl import threadpool_limits

    minimum = max(profiles.min_segment_size, min_segment_size or 0)
    profiles = replace(profiles, min_segment_size=minimum)
    _required_columns(features, profiles.features)
    frame, ages, minors = _adults(features.reset_index(drop=True), edition)
    if len(frame) < minimum:
        raise NotEnoughSupportersError(
            f"only {len(frame)} adults to segment, below the minimum segment size {minimum}: no segment can be published; "
            f"check the supporter export (rows quarantined or suppressed?)"
        )
    stored = _read_state(state, edition)
    rows, model_input, input_notes = _prepare(frame, ages, bands, profiles)
    with threadpool_limits(limits=threads):
        fit = _fit_profiles(
            model_input, profiles, len(stored.base.profiles) if stored.base else None
        )
        profile_ids, kept_labels, identity = _match_profiles(fit, stored.base, profiles)
    cells = rows.band * fit.k + fit.cluster
    aggregates = _aggregate(rows, cells, len(bands) * fit.k)
    labels, profile_descriptors, overall = _label_profiles(
        fit, aggregates, kept_labels, profile_ids, profiles, len(bands)
    )
    built = _build_segments(
        fit,
        aggregates,
        bands,
        profile_ids,
        stored.base.segment_labels if stored.base else {},
        profiles,
        minimum,
    )
    if not built.segments:
        raise NotEnoughSupportersError(
            f"no segment reaches the minimum size {minimum}; check the supporter export"
        )
    packs, memberships, pack_report = _territorial_packs(rows, territories, minimum, profiles)

    assignments = pd.DataFrame(
        {
            "supporter_id": rows.supporter_id.array,
            "segment_id": pd.Categorical.from_codes(
                built.segment_of_cell[cells], categories=[s.id for s in built.segments]
            ),
            "profile_id": pd.Categorical.from_codes(fit.cluster, categories=profile_ids),
        }
    )
    order = sorted(range(fit.k), key=lambda c: _profile_number(profile_ids[c]))
    report: dict[str, Any] = {
        "edition": stored.edition or None,
        "rows_in": len(features),
        "segmented": len(frame),
        "minors_excluded": int(minors_excluded) + minors,
        "age_reference": "âge au jour de l'édition (date de Paris)",
        "min_segment_size": minimum,
        **{key: value for key, value in input_notes.items() if key != "notes"},
        "model": fit.report,
        "identity": identity,
        "profiles": [
            {
                "id": profile_ids[c],
                "label": labels[c],
                "size": int(fit.sizes[c]),
                "status": identity["status"][profile_ids[c]],
                "centroid_shift": identity["shift"].get(profile_ids[c]),
                "descriptor": profile_descriptors[c],
            }
            for c in order
        ],
        "band_merges": built.band_merges,
        "segment_merges": built.merges,
        "segments": [
            {"id": s.id, "label": s.label, "size": s.size, "kind": s.kind, "descriptor": d}
            for s, d in zip(built.segments, built.descriptors, strict=True)
        ],
        "territories": pack_report,
        "overall": overall,
        "representativeness": _representativeness_arrays(rows.age, rows.dep, bands),
        "drift": {
            "base_edition": stored.base.edition if stored.base else None,
            "base_assignments": stored.base.assignments if stored.base else None,
        },
        "notes": list(input_notes.get("notes", [])),
    }
    new_state = _next_state(fit, profile_ids, labels, built, identity, stored, run)
    if new_state is None:
        report["notes"].append(
            f"édition antérieure à l'état stocké ({stored.current.edition if stored.current else '?'}) : l'état des profils n'est pas modifié"
        )
    return SegmentationResult(
        assignments=assignments,
        memberships=memberships,
        segments=built.segments + packs,
        report=report,
        state=new_state,
    )
