"""The score, the ranking and the k-anonymity floor (real extract, made-up supporters)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from matinale.geo import commune_arrays, commune_rows
from matinale.territories.config import TerritorySettings
from matinale.territories.score import rank_territories

FLOOR = 50


def _rows(counts: dict[str, int]) -> np.ndarray:
    codes = [code for code, n in counts.items() for _ in range(n)]
    return commune_rows(pd.DataFrame({"insee_com": pd.array(codes, dtype="string")}))


def test_score_is_potential_times_reach_and_paris_arrondissements_rank() -> None:
    # Protects the documented formula: abstainers (rate × population) × supporters per 1,000.
    ranking = rank_territories(_rows({"75120": 400, "29019": 60, "59350": 10, "75056": 5}))
    frame = ranking.frame
    row = frame.loc["75120"]
    assert row["supporters"] == 400
    assert row["reach"] == pytest.approx(400 * 1000 / row["population"], abs=0.01)
    assert row["score"] == pytest.approx(row["potential"] * row["reach"], rel=0.01)
    shown = ranking.published(FLOOR)
    assert list(shown.index[:2]) == ["75120", "29019"] and list(shown["rank"][:2]) == [1, 2]
    assert "75056" not in frame.index  # the city code is not a territory of its own


def test_nothing_under_the_floor_is_published() -> None:
    # Protects k-anonymity: Lille's 10 supporters are neither shown nor leave a gap in ranks.
    ranking = rank_territories(_rows({"75120": 400, "29019": 60, "59350": 10}))
    shown = ranking.published(FLOOR)
    assert "59350" not in shown.index and (shown["supporters"] >= FLOOR).all()
    assert list(shown["rank"]) == list(range(1, len(shown) + 1))


def test_weights_change_the_order() -> None:
    potential_only = TerritorySettings(reach_weight=0.0)
    rows = _rows({"75120": 400, "13201": 60})
    by_reach = rank_territories(rows).published(FLOOR)
    assert by_reach.index[0] == "75120"
    big = rank_territories(rows, potential_only).frame
    assert big.index[0] == "31555"  # Toulouse: the most estimated abstainers


def test_without_supporters_the_ranking_is_on_public_figures() -> None:
    ranking = rank_territories(None)
    assert not ranking.has_supporters and "supporters" not in ranking.frame
    assert len(ranking.published(FLOOR)) == len(ranking.frame)


def test_ranking_a_million_supporters_is_fast() -> None:
    # Protects the budget (35,000 communes against 1M supporters in under 2 s); the
    # bench measures it too (make bench).
    rank_territories(None)  # the extract is read once per process
    size = len(commune_arrays().index)
    rows = np.random.default_rng(3).integers(-1, size, 1_000_000).astype(np.int32)
    start = time.perf_counter()
    ranking = rank_territories(rows)
    assert time.perf_counter() - start < 2.0
    assert ranking.counts["supporters"] == 1_000_000
