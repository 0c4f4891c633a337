"""Territorial packs (département, commune, arrondissement) published on top of the segments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from matinale.geo import commune_arrays
from matinale.segment.adults import _Rows
from matinale.segment.definitions import ProfileConfig, TerritoryPack
from matinale.segment.describe import _aggregate, _describe, _masked_count, round_size
from matinale.segment.types import Segment, Territory


def _territorial_packs(
    rows: _Rows, territories: Sequence[TerritoryPack], minimum: int, profiles: ProfileConfig
) -> tuple[list[Segment], pd.DataFrame, list[dict[str, Any]]]:
    """Published packs, the private membership table and the report's lines."""
    geo = commune_arrays()
    vocabulary = tuple(profiles.interests)
    packs: list[Segment] = []
    report: list[dict[str, Any]] = []
    members: list[pd.Series] = []
    pack_ids: list[np.ndarray] = []
    for pack in territories:
        if pack.level == "departement":
            mask = rows.dep == geo.dep_codes.index(pack.code)
        else:
            wanted = geo.index.get_indexer(pd.Index(pack.communes))
            mask = np.isin(rows.commune, wanted[wanted >= 0])
        size = int(mask.sum())
        entry: dict[str, Any] = {
            "id": pack.id,
            "level": pack.level,
            "code": pack.code,
            "name": pack.name,
            "theme": pack.theme,
        }
        if size < minimum:
            report.append(
                {
                    **entry,
                    "size": _masked_count(size, minimum),
                    "published": False,
                    "reason": f"moins de {minimum} personnes",
                }
            )
            continue
        sub = rows.subset(mask)
        single = np.zeros(size, dtype=np.int64)
        descriptor = _describe(_aggregate(sub, single, 1), np.zeros(1, dtype=np.int64), vocabulary)
        theme = (
            profiles.interests.get(pack.theme, pack.theme.replace("-", " ")) if pack.theme else None
        )
        packs.append(
            Segment(
                id=pack.id,
                kind="territory",
                band_label="Tous âges",
                label=f"{pack.name} · {theme}" if theme else pack.name,
                size=round_size(size),
                top_interests=tuple(descriptor["top_interests"]),
                territory=Territory(pack.level, pack.code, pack.name, pack.the, pack.at),
                theme=pack.theme,
            )
        )
        report.append({**entry, "size": size, "published": True, "descriptor": descriptor})
        members.append(sub.supporter_id)
        pack_ids.append(np.full(size, len(packs) - 1, dtype=np.int64))
    memberships = pd.DataFrame(
        {
            "supporter_id": pd.concat(members, ignore_index=True).array
            if members
            else pd.array([], dtype="string"),
            "pack_id": pd.Categorical.from_codes(
                np.concatenate(pack_ids) if pack_ids else np.array([], dtype=np.int64),
                categories=[p.id for p in packs],
            ),
        }
    )
    return packs, memberships, report
