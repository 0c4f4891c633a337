"""The past election results shipped in ``data/``: read once, codes as text, cleaned for ranking.

The extract (``data/communes_elections.csv``, see ``data/README.md``) has one row per commune
or arrondissement as coded at the time of the vote. :func:`election_table` keeps the rows a
ranking can use and counts every row it sets aside, so the report can say why:

- Paris, Lyon and Marseille appear both as a whole (75056, 69123, 13055) and as
  arrondissements: only the arrondissements are kept (``plm_whole``).
- ``99xxx`` and ``ZZxxx`` are French voters abroad, not territories (``abroad``).
- Communes merged since the vote have no population and, mostly, no name. Mapping their old
  codes to the new commune needs INSEE's table of commune events (``mouvements de
  communes``), which the package does not ship: they are skipped (``merged``). A code still in
  the commune table (COG 2024) whose 2026 population is empty takes the table's 2021
  population instead (``population_from_commune_table``).
- Codes with figures but no coordinates in the commune table (98x: New Caledonia, French
  Polynesia…) stay in the ranking; the map leaves them out and counts them.

An empty cell is "no figure" (NaN), never 0. Every commune look-up goes through
:mod:`matinale.geo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd

from matinale.geo import PLM_CITIES, commune_names, communes_by_insee

__all__ = [
    "ATTRIBUTION",
    "ELECTIONS",
    "ElectionTable",
    "election_table",
    "raw_elections",
]

#: Shown under the map and written into territories.json (Licence Ouverte 2.0 asks for it).
ATTRIBUTION = (
    "Sources : ministère de l’Intérieur (résultats électoraux), INSEE — Licence Ouverte 2.0"
)

#: Election id → (French label, abstention column). Rounds 2 are listed but held only in
#: part of the country (a partial round is never averaged with zeros: empty stays empty).
ELECTIONS: dict[str, tuple[str, str]] = {
    "pres22_t1": ("présidentielle 2022, 1er tour", "pres22_t1_abst_pct"),
    "pres22_t2": ("présidentielle 2022, 2d tour", "pres22_t2_abst_pct"),
    "leg22_t1": ("législatives 2022, 1er tour", "leg22_t1_abst_pct"),
    "leg24_t1": ("législatives 2024, 1er tour", "leg24_t1_abst_pct"),
    "leg24_t2": ("législatives 2024, 2d tour", "leg24_t2_abst_pct"),
}
_TEXT: tuple[str, ...] = (
    "insee",
    "nom",
    "departement",
    *(f"{election}_leader" for election in ELECTIONS),
)
_ABROAD = ("99", "ZZ")


@lru_cache(maxsize=1)
def raw_elections() -> pd.DataFrame:
    """The extract as shipped: codes and names as text, figures as floats (NaN when empty)."""
    dtypes = {column: "str" for column in _TEXT}
    dtypes |= {column: "float64" for _, column in ELECTIONS.values()}
    dtypes["population"] = "float64"  # empty for merged communes: float keeps NaN
    with files("matinale.territories").joinpath("data", "communes_elections.csv").open("rb") as fh:
        return pd.read_csv(
            fh, dtype=dtypes, keep_default_na=False, na_values=[""], encoding="utf-8"
        )


@dataclass(frozen=True)
class ElectionTable:
    """The rankable rows (indexed by INSEE code) and what was set aside, counted."""

    table: pd.DataFrame  # nom, departement, population, lat, lng, the abstention columns
    counts: dict[str, int]


@lru_cache(maxsize=1)
def election_table() -> ElectionTable:
    """Rows that can be ranked, indexed by INSEE code (text), with names and coordinates.

    Columns: ``nom`` (with its article where the commune table has one), ``departement``,
    ``population`` (float, NaN = unknown), ``lat``/``lng`` (NaN where the commune table has
    none) and the abstention columns of :data:`ELECTIONS` (NaN = no figure).
    """
    raw = raw_elections()
    codes = raw["insee"]
    plm = codes.isin(list(PLM_CITIES))
    abroad = codes.str[:2].isin(_ABROAD)
    kept = raw[~plm & ~abroad].set_index("insee")
    places = communes_by_insee()
    in_table = kept.index.isin(places.index)
    fallback = kept["population"].isna() & in_table
    table_population = places["population_2021"].reindex(kept.index).astype("float64")
    population = kept["population"].where(~fallback, table_population)
    # A zero population (Mayotte in the commune table) is unknown, not empty of voters.
    population = population.where(population > 0)
    merged = population.isna()
    frame = kept.loc[~merged].copy()
    frame["population"] = population[~merged]
    names = commune_names().reindex(frame.index)
    frame["nom"] = names.fillna(frame["nom"]).fillna(frame.index.to_series()).str.replace("'", "’")
    frame["lat"] = places["lat"].reindex(frame.index)
    frame["lng"] = places["lng"].reindex(frame.index)
    no_coordinates = frame["lat"].isna() | frame["lng"].isna()
    counts = {
        "rows": len(raw),
        "ranked": len(frame),
        "plm_whole": int(plm.sum()),
        "abroad": int(abroad.sum()),
        "merged": int(merged.sum()),
        "population_from_commune_table": int((fallback & ~merged).sum()),
        "no_coordinates": int(no_coordinates.sum()),
        "no_coordinates_98x": int((no_coordinates & frame.index.str.startswith("98")).sum()),
    }
    frame.index.name = "insee"
    return ElectionTable(table=frame, counts=counts)


def abstention(table: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """Weighted mean abstention rate (%) over the elections with a figure, per row.

    Weights are renormalised over the elections a row has figures for: a commune without a
    2024 round 2 is averaged over the others, never with a 0. NaN when no election has one.
    """
    values = np.column_stack([table[ELECTIONS[e][1]].to_numpy(np.float64) for e in weights])
    w = np.asarray(list(weights.values()), dtype=np.float64)
    present = ~np.isnan(values)
    total = (present * w).sum(axis=1)
    summed = np.where(present, values, 0.0) @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(np.where(total > 0, summed / total, np.nan), index=table.index)


__all__ += ["abstention"]
