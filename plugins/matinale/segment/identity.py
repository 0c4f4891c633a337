"""Stable profile ids night after night: the stored state, Hungarian matching, drift.

Tonight's profiles are matched to the previous night's (Hungarian assignment on centroid
distances): a matched profile keeps its id and label, a new one gets a new id, ids that
disappear are retired and never reused. The state is plain JSON at ``STATE_KEY``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from matinale.segment.definitions import ProfileConfig
from matinale.segment.errors import SegmentationError

if TYPE_CHECKING:
    from matinale.segment.build import _Built
    from matinale.segment.model import _Fit

__all__ = ["STATE_KEY", "assignment_drift"]


#: Where the identity state lives in the work store, outside any run prefix.
STATE_KEY = "state/segments.json"
_STATE_VERSION = 1


@dataclass
class _Snapshot:
    """One night's identities, as stored (plain JSON) at ``STATE_KEY``."""

    edition: str
    run: str
    features: list[str]
    profiles: list[dict[str, Any]]  # id, label, centroid {feature: value}, size
    retired: list[str]
    next_profile: int
    # Segment id → label (without the band).
    segment_labels: dict[str, str] = field(default_factory=dict)
    assignments: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> _Snapshot:
        return cls(
            edition=str(raw["edition"]),
            run=str(raw.get("run", "")),
            features=[str(f) for f in raw["features"]],
            profiles=[
                {
                    "id": str(p["id"]),
                    "label": str(p["label"]),
                    "centroid": {str(k): float(v) for k, v in p["centroid"].items()},
                    "size": int(p.get("size", 0)),
                }
                for p in raw["profiles"]
            ],
            retired=[str(r) for r in raw.get("retired", [])],
            next_profile=int(raw["next_profile"]),
            segment_labels={str(k): str(v) for k, v in (raw.get("segment_labels") or {}).items()},
            assignments=raw.get("assignments"),
        )


@dataclass
class _State:
    base: _Snapshot | None  # what tonight is matched against
    current: _Snapshot | None
    previous: _Snapshot | None
    edition: str

    @property
    def rerun(self) -> bool:
        return self.current is not None and self.current.edition == self.edition

    @property
    def backfill(self) -> bool:
        return (
            self.current is not None and bool(self.edition) and self.current.edition > self.edition
        )


def _read_state(state: Mapping[str, Any] | None, edition: date | None) -> _State:
    """The stored identities; a rerun of an edition is matched against the night before it.

    Matching a rerun against its own earlier attempt would make the ids depend on how many
    times a night ran; matching it against the previous night makes every rerun agree.
    """
    night = edition.isoformat() if edition else ""
    if not state:
        return _State(None, None, None, night)
    try:
        if int(state.get("version", 0)) != _STATE_VERSION:
            raise ValueError(f"version {state.get('version')!r}, expected {_STATE_VERSION}")
        current = _Snapshot.from_json(state["current"]) if state.get("current") else None
        previous = _Snapshot.from_json(state["previous"]) if state.get("previous") else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SegmentationError(
            f"{STATE_KEY} in the work store is unreadable ({exc}); restore it from a backup, or delete it to start "
            f"afresh (profiles will be renumbered from p01 and the report will say so)"
        ) from exc
    stored = _State(current, current, previous, night)
    if stored.rerun:
        stored.base = previous
    return stored


def _profile_number(profile_id: str) -> int:
    return int(profile_id[1:]) if profile_id[1:].isdigit() else 0


def _match_profiles(
    fit: _Fit, base: _Snapshot | None, profiles: ProfileConfig
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Profile id and kept label per cluster (Hungarian assignment), and what happened to identities."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist, pdist

    k = fit.k
    ids: list[str | None] = [None] * k
    labels = [""] * k
    status: dict[str, str] = {}
    shift: dict[str, float] = {}
    retired: list[str] = []
    note = None
    threshold = (
        profiles.max_centroid_shift * float(np.median(pdist(fit.centers))) if k > 1 else math.inf
    )
    if base and base.profiles:
        common = [i for i, name in enumerate(fit.names) if name in base.features]
        if not common:
            note = "aucune variable commune avec la veille : tous les profils reçoivent de nouveaux identifiants"
        else:
            if len(common) < len(fit.names) or len(base.features) != len(fit.names):
                note = "les variables ont changé depuis la veille : appariement sur les variables communes seulement"
            # Yesterday's centroids are kept in named raw units; tonight's scaling puts them
            # in the same space as tonight's centres.
            previous_raw = np.array(
                [[p["centroid"].get(fit.names[i], 0.0) for i in common] for p in base.profiles]
            )
            previous = (previous_raw - fit.scaler.offset_[common]) * fit.scaler.factor_[common]
            cost = cdist(fit.centers[:, common], previous)
            for row, col in zip(*linear_sum_assignment(cost), strict=True):
                if cost[row, col] <= threshold:
                    ids[row] = base.profiles[col]["id"]
                    labels[row] = base.profiles[col]["label"]
                    status[base.profiles[col]["id"]] = "suivi"
                    shift[base.profiles[col]["id"]] = round(float(cost[row, col]), 4)
        matched = {i for i in ids if i}
        retired = [p["id"] for p in base.profiles if p["id"] not in matched]
    # New clusters get new ids, largest first; an id is never given twice.
    next_profile = base.next_profile if base else 1
    for c in sorted((c for c in range(k) if ids[c] is None), key=lambda c: (-fit.sizes[c], c)):
        ids[c] = f"p{next_profile:02d}"
        status[f"p{next_profile:02d}"] = "nouveau"
        next_profile += 1
    identity = {
        "base_edition": base.edition if base else None,
        "status": status,
        "shift": shift,
        "retired": retired,
        "next_profile": next_profile,
        "max_shift": None if not base or k < 2 else round(threshold, 4),
        "note": note,
    }
    return [str(i) for i in ids], labels, identity


def _next_state(
    fit: _Fit,
    profile_ids: list[str],
    labels: list[str],
    built: _Built,
    identity: Mapping[str, Any],
    stored: _State,
    run: str,
) -> dict[str, Any] | None:
    """What to store at ``STATE_KEY`` after tonight (None for a backfill: never rewind)."""
    if stored.backfill:
        return None
    base = stored.base
    order = sorted(range(fit.k), key=lambda c: _profile_number(profile_ids[c]))
    retired = sorted(
        set((base.retired if base else []) + list(identity["retired"])), key=_profile_number
    )
    alive = set(profile_ids)
    # Labels of segments not published tonight are kept while their profile lives: a
    # segment merged away for a night comes back under the same label.
    segment_labels = {
        sid: label
        for sid, label in (base.segment_labels if base else {}).items()
        if sid.rsplit("-", 1)[-1] in alive
    } | built.labels
    snapshot = _Snapshot(
        edition=stored.edition,
        run=run,
        features=fit.names,
        profiles=[
            {
                "id": profile_ids[c],
                "label": labels[c],
                "centroid": {
                    name: round(float(v), 6)
                    for name, v in zip(fit.names, fit.centers_raw[c], strict=True)
                },
                "size": int(fit.sizes[c]),
            }
            for c in order
        ],
        retired=retired,
        # Never below what any stored night used: an id once given is never given again.
        next_profile=max(
            [int(identity["next_profile"])]
            + [s.next_profile for s in (stored.current, stored.previous) if s]
        ),
        segment_labels=dict(sorted(segment_labels.items())),
    )
    keep = stored.previous if stored.rerun else stored.current
    return {
        "version": _STATE_VERSION,
        "current": snapshot.to_json(),
        "previous": keep.to_json() if keep else None,
    }


def assignment_drift(previous: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """Who moved since the previous night: shares over supporters present both nights."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # Arrow hashes the ids in C++; a pandas object Index of Python strings is far slower.
    before_ids = pa.array(previous["supporter_id"].astype("string"), type=pa.large_string())
    after_ids = pa.array(current["supporter_id"].astype("string"), type=pa.large_string())
    where = pc.fill_null(pc.index_in(after_ids, value_set=before_ids), -1).to_numpy()
    both = where >= 0
    common = int(both.sum())
    out: dict[str, Any] = {
        "supporters_both_nights": common,
        "new_supporters": int((~both).sum()),
        "gone_supporters": int(len(previous) - common),
    }
    for column, key in (("segment_id", "moved_share"), ("profile_id", "profile_moved_share")):
        if column in previous and column in current and common:
            before = _id_codes(previous[column])
            after = _id_codes(current[column])
            union = sorted(set(before[1]) | set(after[1]))
            # Compare integer codes over the union of both nights' ids, never a million strings.
            before_codes = np.append(pd.Index(union).get_indexer(before[1]), -1)[before[0]][
                where[both]
            ]
            after_codes = np.append(pd.Index(union).get_indexer(after[1]), -1)[after[0]][both]
            out[key] = round(float((before_codes != after_codes).mean()), 4)
    return out


def _id_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per-row codes and the distinct ids they point to (categoricals are not re-hashed)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    return codes, [str(u) for u in uniques]
