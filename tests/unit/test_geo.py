from __future__ import annotations

import math

import pandas as pd
import pytest

from matinale.geo import (
    DENSITY_CLASSES,
    PLM_CITIES,
    arrondissements,
    commune_arrays,
    commune_rows,
    commune_types,
    communes,
    communes_by_insee,
    departements,
    insee_for_postal,
    postal_codes,
    regions,
)


def test_codes_stay_text() -> None:
    table = communes()
    for column in ("insee_com", "insee_reg", "insee_dep", "code_postal", "insee_parente"):
        assert table[column].dtype == "str", column
    codes = set(table["insee_com"])
    assert {"01001", "2A004", "2B033", "97411"} <= codes
    assert table["code_postal"].str.fullmatch(r"\d{5}").all()
    assert table.loc[table["insee_com"] == "01001", "code_postal"].tolist() == ["01400"]
    assert set(departements()["insee_dep"]) >= {"01", "2A", "2B", "971", "976"}
    assert departements()["insee_reg"].dtype == "str"
    assert set(regions()["insee_reg"]) >= {"01", "06", "11", "94"}


def test_numbers_are_numbers() -> None:
    table = communes()
    assert table["population_2021"].dtype == "int64"
    assert table["lat"].dtype == "float64"


def test_one_row_per_commune_and_population_of_france() -> None:
    table = communes_by_insee()
    assert table.index.is_unique
    assert len(table) == communes()["insee_com"].nunique() == 34_976
    assert table["population_2021"].sum() == pytest.approx(67.4e6, rel=1e-3)
    # Paris only exists as its arrondissements.
    assert "75111" in table.index and "75056" not in table.index
    assert table.loc["2A004", "commune"] == "Ajaccio"
    assert table.index.dtype == "str"


def test_derived_columns() -> None:
    table = communes_by_insee()
    assert table.loc["75111", "density_class"] == "urbain dense"
    assert table.loc["75111", "density"] > 20_000
    assert set(table["density_class"].dropna()) == {label for label, _ in DENSITY_CLASSES}
    rate = table["unemployment_rate"].dropna()
    assert ((rate >= 0) & (rate <= 1)).all()
    # Mayotte has neither population nor area in these tables: no density, no class.
    assert math.isnan(table.loc["97611", "density"])
    assert table["density_class"].isna().loc["97611"]


def test_postal_code_serving_several_communes_stays_ambiguous() -> None:
    served = insee_for_postal("51300")
    assert len(served) > 10
    assert list(served) == sorted(served)
    assert insee_for_postal("75011") == ("75111",)
    assert insee_for_postal(" 01400 ") == insee_for_postal("1400") == postal_codes()["01400"]
    assert "01001" in insee_for_postal("01400")
    assert insee_for_postal("00000") == ()


def test_commune_with_several_postal_codes_is_under_each() -> None:
    table = communes()
    counts = table.groupby("insee_com")["code_postal"].nunique()
    insee = counts[counts > 1].index[0]
    for code in table.loc[table["insee_com"] == insee, "code_postal"]:
        assert insee in postal_codes()[code]


def test_loaders_are_cached() -> None:
    assert communes() is communes()
    assert communes_by_insee() is communes_by_insee()
    assert postal_codes() is postal_codes()


def test_commune_rows_read_insee_codes_then_unambiguous_postal_codes() -> None:
    frame = pd.DataFrame(
        {
            "insee_com": pd.array([" 29019 ", "2a004", None, None, "99999"], dtype="string"),
            "postal_code": pd.array(["", "", "75011", "51300", ""], dtype="string"),
        }
    )
    index = commune_arrays().index
    rows = commune_rows(frame)
    assert rows.tolist() == [
        index.get_loc("29019"),
        index.get_loc("2A004"),
        index.get_loc("75111"),
        -1,
        -1,
    ]
    assert commune_rows(frame[["postal_code"]]).tolist()[2] == index.get_loc("75111")


def test_commune_arrays_end_with_an_unknown_slot() -> None:
    arrays = commune_arrays()
    assert arrays is commune_arrays()
    n = len(communes_by_insee())
    assert len(arrays.index) == n and len(arrays.density) == len(arrays.dep) == n + 1
    assert arrays.density[-1] == -1 and arrays.dep[-1] == -1 and math.isnan(arrays.unemployment[-1])
    brest = arrays.index.get_loc("29019")
    assert (
        arrays.dep_codes[arrays.dep[brest]] == "29"
        and arrays.dep_names[arrays.dep[brest]] == "Finistère"
    )
    assert (
        arrays.density_labels[arrays.density[brest]]
        == communes_by_insee().loc["29019", "density_class"]
    )
    assert arrays.dep_population.sum() == communes_by_insee()["population_2021"].sum()


def test_arrondissements_of_paris_lyon_and_marseille() -> None:
    assert arrondissements("75056") == tuple(f"751{i:02d}" for i in range(1, 21))
    assert len(arrondissements("69123")) == 9 and len(arrondissements("13055")) == 16
    assert set(PLM_CITIES.values()) == {"Paris", "Lyon", "Marseille"}
    assert commune_types()["75120"] == "ARM" and commune_types()["29019"] == "COM"
