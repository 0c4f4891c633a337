"""The night's part: rank tonight's territories, add the automatic packs, publish the aggregates.

Called by the segment stage (:func:`matinale.night.run_segment`) once the supporters'
communes are known: :func:`prepare` ranks the territories and makes the ``t-<code>`` packs of
``territories.auto``; :func:`publish` writes ``territories.json`` and ``territories.png`` into
the run's bundle, so the manifest lists them. Both hold aggregates only: a territory with
fewer supporters than the k-anonymity floor (``privacy.min_segment_size``) is neither shown
nor counted by name; nothing per person leaves the private store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from matinale.geo import commune_rows, commune_types
from matinale.territories.config import TerritorySettings, load_territory_settings
from matinale.territories.elections import ATTRIBUTION, ELECTIONS
from matinale.territories.score import Ranking, rank_territories

__all__ = ["NightTerritories", "auto_packs", "prepare", "publish", "territories_document"]

#: Rows of the published ranking (the table beside the map shows the first ``top``).
_PUBLISHED_ROWS = 100
_FIELDS = ("nom", "departement", "population", "abstention", "potential", "supporters", "reach")


@dataclass(frozen=True)
class NightTerritories:
    ranking: Ranking
    settings: TerritorySettings
    floor: int
    packs: list[Any]  # TerritoryPack of matinale.segment.definitions
    seconds: float


def territories_document(
    ranking: Ranking, floor: int, *, rows: int, packs: Sequence[Any] = ()
) -> dict[str, Any]:
    """``{"territories": [{"insee": "75120", "nom": …, "score": …, …figures}], …}``; codes as text."""
    shown = ranking.published(floor).head(rows)
    entries = []
    for code, row in shown.iterrows():
        entry: dict[str, Any] = {
            "insee": str(code),
            "rank": int(row["rank"]),
            "score": float(row["score"]),
        }
        for key in _FIELDS:
            if key in row.index:
                value = row[key]
                entry[key] = value if isinstance(value, str) else _number(value)
        entries.append(entry)
    counts = {k: v for k, v in ranking.counts.items() if not k.startswith("supporters")}
    if ranking.has_supporters:
        counts["below_floor"] = int((ranking.frame["supporters"] < floor).sum())
    return {
        "territories": entries,
        "floor": floor,
        "formula": ranking.formula,
        "elections": {key: ELECTIONS[key][0] for key in ELECTIONS},
        "counts": counts,
        "packs": [{"id": p.id, "code": p.code, "name": p.name} for p in packs],
        "attribution": ATTRIBUTION,
    }


def _number(value: Any) -> float | int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def auto_packs(
    ranking: Ranking, settings: TerritorySettings, floor: int, taken: Sequence[str] = ()
) -> list[Any]:
    """The ``t-<code>`` packs of the top territories with enough supporters (none without
    ``auto``); a territory that already has a hand-written pack keeps it."""
    from matinale.segment.definitions import TerritoryPack

    if settings.auto is None or not ranking.has_supporters:
        return []
    needed = max(settings.auto.min_supporters, floor)
    kinds = commune_types()
    packs: list[Any] = []
    frame = ranking.frame
    candidates = frame[frame["supporters"] >= needed]  # ranked best first
    for code, row in candidates.iterrows():
        if len(packs) >= settings.auto.top:
            break
        pack_id = f"t-{str(code).lower()}"
        if pack_id in taken:
            continue
        packs.append(
            TerritoryPack(
                id=pack_id,
                level="arrondissement" if kinds.get(code) == "ARM" else "commune",
                code=str(code),
                name=str(row["nom"]),
                theme=None,
                communes=(str(code),),
            )
        )
    return packs


def prepare(
    features: pd.DataFrame,
    segments_dir: Path,
    territories_file: str | None,
    floor: int,
    taken: Sequence[str],
) -> NightTerritories:
    """Rank tonight's territories from the supporters' communes and make the automatic packs."""
    start = time.perf_counter()
    settings = load_territory_settings(
        Path(segments_dir) / territories_file if territories_file else None
    )
    ranking = rank_territories(commune_rows(features), settings)
    packs = auto_packs(ranking, settings, floor, taken)
    return NightTerritories(ranking, settings, floor, packs, time.perf_counter() - start)


def publish(store: Any, bundle: str, night: NightTerritories, *, title: str) -> dict[str, Any]:
    """Write ``territories.json`` and ``territories.png`` under ``bundle``; a summary for XCom."""
    from matinale.territories.chart import draw_map

    top = night.settings.auto.top if night.settings.auto else 10
    document = territories_document(
        night.ranking, night.floor, rows=_PUBLISHED_ROWS, packs=night.packs
    )
    store.put_bytes(
        f"{bundle}/territories.json",
        json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"),
    )
    start = time.perf_counter()
    shown = night.ranking.published(night.floor)
    png = draw_map(night.ranking.frame, shown, title=title, top=top)
    store.put_bytes(f"{bundle}/territories.png", png)
    return {
        "ranked": len(shown),
        "auto_packs": [p.id for p in night.packs],
        "rank_seconds": round(night.seconds, 3),
        "map_seconds": round(time.perf_counter() - start, 3),
        "territories_text": _approval_text(night),
    }


def _approval_text(night: NightTerritories) -> str:
    """The lines staff read at approval about tonight's automatic packs (French)."""
    if not night.packs:
        return ""
    names = ", ".join(f"{p.name} (`{p.id}`)" for p in night.packs)
    return f"\n\n**Packs territoriaux automatiques** ({len(night.packs)}) : {names}."
