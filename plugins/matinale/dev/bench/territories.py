"""Bench of the priority territories: rank 35,000 communes against a million supporters (< 2 s).

``run(rows)`` draws ``rows`` supporters' commune codes, weighted by population (a seeded
generator: the same codes on every run), then times, warm (the election extract and the
commune table read once per process, as in the night's segment stage): resolving the codes
to commune rows (:func:`matinale.geo.commune_rows`), the ranking
(:func:`matinale.territories.rank_territories`) and drawing the map. The budget is on the
first two, the ranking proper; the map is reported beside it. ``bench/territories_bench.py``
hooks it into ``make bench``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BUDGET_SECONDS", "run"]

BUDGET_SECONDS = 2.0


def run(rows: int = 1_000_000) -> dict[str, Any]:
    """Time the ranking of every territory against ``rows`` supporters, and the map."""
    from matinale.geo import commune_rows, communes_by_insee
    from matinale.territories import rank_territories
    from matinale.territories.chart import draw_map

    start = time.perf_counter()
    rank_territories(None)  # reads the extract and the commune table once
    load_seconds = time.perf_counter() - start
    table = communes_by_insee()
    weights = table["population_2021"].to_numpy(np.float64)
    picks = np.random.default_rng(20261124).choice(len(table), rows, p=weights / weights.sum())
    codes = pd.DataFrame({"insee_com": pd.array(table.index.to_numpy()[picks], dtype="string")})
    start = time.perf_counter()
    resolved = commune_rows(codes)
    ranking = rank_territories(resolved)
    seconds = time.perf_counter() - start
    shown = ranking.published(50)
    start = time.perf_counter()
    png = draw_map(ranking.frame, shown, title="Territoires prioritaires")
    map_seconds = time.perf_counter() - start
    return {
        "rows": rows,
        "territories": len(ranking.frame),
        "published": len(shown),
        "seconds": round(seconds, 3),
        "load_seconds": round(load_seconds, 3),
        "map_seconds": round(map_seconds, 3),
        "map_bytes": len(png),
        "within_budget": seconds <= BUDGET_SECONDS,
        "budget": {"seconds": BUDGET_SECONDS},
    }
