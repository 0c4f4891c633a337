"""The shipped election extract read through matinale.territories.elections (real data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from matinale.territories.elections import ATTRIBUTION, abstention, election_table, raw_elections


def test_codes_are_text_and_paris_lyon_marseille_are_ranked_by_arrondissement() -> None:
    # Protects: codes keep their leading zero / Corsica letters; a city is never counted both
    # as a whole and as its arrondissements.
    table = election_table().table
    assert (
        pd.api.types.is_string_dtype(table.index)
        and "01001" in table.index
        and "2A004" in table.index
    )
    for whole in ("75056", "69123", "13055"):
        assert whole not in table.index
    assert {f"751{n:02d}" for n in range(1, 21)} <= set(table.index)
    assert {"69381", "13201"} <= set(table.index)
    assert election_table().counts["plm_whole"] == 3


def test_overseas_communes_are_present_with_coordinates_and_98x_without() -> None:
    # Protects: overseas territories stay in the ranking; 98x (outside INSEE's table) are
    # ranked where they have figures but counted as having no coordinates.
    table, counts = election_table().table, election_table().counts
    for code in ("97101", "97209", "97302", "97411"):
        assert code in table.index and not np.isnan(table.at[code, "lat"])
    polynesia = table[table.index.str.startswith("987")]
    assert len(polynesia) > 40 and polynesia["lat"].isna().all()
    assert counts["no_coordinates"] == 89 and counts["no_coordinates_98x"] == 81


def test_merged_communes_are_skipped_with_a_count_or_take_the_table_population() -> None:
    # Protects: a commune merged since the vote (no population, not in the COG 2024 table)
    # is counted and skipped, never scored with a population of 0; one still in the table
    # takes the table's 2021 population.
    from matinale.geo import communes_by_insee

    raw = raw_elections().set_index("insee")
    table, counts = election_table().table, election_table().counts
    assert np.isnan(raw.at["01039", "population"]) and "01039" not in table.index
    assert counts["merged"] == 32 and counts["abroad"] == 423
    assert np.isnan(raw.at["01330", "population"])
    assert table.at["01330", "population"] == communes_by_insee().at["01330", "population_2021"]
    assert counts["population_from_commune_table"] == 68
    assert counts["ranked"] == len(table) == 35_056


def test_an_empty_cell_is_no_figure_never_zero() -> None:
    # Protects: "no second round" must not read as 0 % abstention (which would average down).
    raw = raw_elections().set_index("insee")
    assert np.isnan(raw.at["01001", "pres22_t2_abst_pct"])
    row = election_table().table.loc[["01001"]]
    with_empty = abstention(row, {"pres22_t1": 1.0, "pres22_t2": 1.0})
    assert with_empty.iloc[0] == pytest.approx(16.7)
    nothing = pd.DataFrame({"pres22_t2_abst_pct": [np.nan]}, index=["x"])
    assert np.isnan(abstention(nothing, {"pres22_t2": 1.0}).iloc[0])


def test_names_carry_their_article_and_the_attribution_names_the_licence() -> None:
    names = election_table().table["nom"]
    assert names["76351"] == "Le Havre" and names["01001"] == "L’Abergement-Clémenciat"
    assert "Licence Ouverte 2.0" in ATTRIBUTION and "ministère de l’Intérieur" in ATTRIBUTION
