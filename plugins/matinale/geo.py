"""French communes, postal codes, départements and régions, from the tables shipped in ``data/``.

Every code (INSEE commune, département and région codes, postal codes) is text: read as a
number, ``01001`` would become ``1001`` and Corsica's ``2A004`` would break the column.
The loaders are cached: each table is read once per process and the same object is
returned on every call, so treat the results as read-only (``.copy()`` before changing them).
See ``data/README.md`` for the sources, the licence and the shape of the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "DENSITY_CLASSES",
    "PLM_CITIES",
    "CommuneArrays",
    "arrondissements",
    "commune_arrays",
    "commune_names",
    "commune_rows",
    "commune_types",
    "communes",
    "communes_by_insee",
    "departements",
    "insee_for_postal",
    "postal_codes",
    "regions",
]

# Thresholds on a commune's average density (inhabitants per km²), highest first. The 1,500
# and 300 cut-offs are the ones INSEE and Eurostat use in the "grille communale de densité"
# (degree of urbanisation) for dense urban centres and for urban clusters; INSEE applies
# them to 1 km² grid cells, we apply them to the whole commune, which is the only level
# these tables have. Below 300, 50 inhab/km² separates communes that are mostly periurban
# (small towns and villages in a commuting belt) from the rural rest, close to the median
# commune (41 inhab/km²): measured on these tables, 57 % of the communes but 11 % of the
# population are "rural", 36 % of the population lives in "urbain dense" communes.
DENSITY_CLASSES: tuple[tuple[str, float], ...] = (
    ("urbain dense", 1500.0),
    ("urbain", 300.0),
    ("périurbain", 50.0),
    ("rural", 0.0),
)

_COMMUNE_CODES = ("insee_com", "insee_reg", "insee_dep", "code_postal", "insee_parente")
_COMMUNE_FLOATS = ("lat", "lng", "superficie_km2")
_COMMUNE_INTS = (
    "population_2021",
    "population_2015",
    "menages_2021",
    "naissances_2022",
    "deces_2022",
    "pop_15_64_totale_2021",
    "pop_15_64_chomage_2021",
    "pop_15_64_active_2021",
)
_BY_INSEE_COLUMNS = [
    "commune",
    "insee_dep",
    "insee_reg",
    "lat",
    "lng",
    "superficie_km2",
    "population_2021",
    "pop_15_64_totale_2021",
    "pop_15_64_chomage_2021",
    "pop_15_64_active_2021",
]
_PLACE_NUMBERS = {"lng": "float64", "lat": "float64", "aire": "float64"}
# Rows that are communes in their own right: COMD (delegated communes) repeat their
# parent's code, population and postal codes and must not be counted twice.
_OWN_COMMUNE_TYPES = ("COM", "ARM")


def _read_table(name: str, dtypes: dict[str, str]) -> pd.DataFrame:
    # Only an empty field is missing: a default read would also take "NA" or "null" as
    # missing values, and an unlisted column could be typed by guesswork.
    with files("matinale").joinpath("data", name).open("rb") as handle:
        return pd.read_csv(
            handle, dtype=dtypes, keep_default_na=False, na_values=[""], encoding="utf-8"
        )


@lru_cache(maxsize=1)
def communes() -> pd.DataFrame:
    """The full commune table: one row per commune (COM, ARM or COMD) and postal code.

    Code columns (``insee_com``, ``insee_reg``, ``insee_dep``, ``code_postal``,
    ``insee_parente``) and names are text; coordinates and areas are floats; counts are ints.
    """
    dtypes = {
        column: "str" for column in (*_COMMUNE_CODES, "commune", "commune_article", "commune_type")
    }
    dtypes |= {column: "float64" for column in _COMMUNE_FLOATS}
    dtypes |= {column: "int64" for column in _COMMUNE_INTS}
    return _read_table("communes.csv", dtypes)


def _density_class(density: pd.Series) -> pd.Series:
    labels = [label for label, _ in DENSITY_CLASSES]
    conditions = [density >= floor for _, floor in DENSITY_CLASSES]
    classes = np.select(conditions, labels, default="")
    # Unknown density (no area, no population: Mayotte in this compilation) has no class.
    return pd.Series(classes, index=density.index, dtype="str").where(density.notna())


@lru_cache(maxsize=1)
def communes_by_insee() -> pd.DataFrame:
    """One row per commune or arrondissement (COM and ARM rows), indexed by ``insee_com``.

    Columns: commune, insee_dep, insee_reg, lat, lng, superficie_km2, population_2021, the
    15–64 activity counts, and the derived ``density`` (inhabitants per km²),
    ``density_class`` (see ``DENSITY_CLASSES``) and ``unemployment_rate`` (unemployed over
    active 15–64 year olds). Derived values are NaN where the inputs are missing or zero.
    """
    table = communes()
    own = table[table["commune_type"].isin(_OWN_COMMUNE_TYPES)]
    frame = own.drop_duplicates("insee_com").set_index("insee_com")[_BY_INSEE_COLUMNS].copy()
    area = frame["superficie_km2"].where(frame["superficie_km2"] > 0)
    population = frame["population_2021"].astype("float64")
    frame["density"] = (population / area).where(population > 0)
    frame["density_class"] = _density_class(frame["density"])
    active = frame["pop_15_64_active_2021"].astype("float64")
    frame["unemployment_rate"] = frame["pop_15_64_chomage_2021"] / active.where(active > 0)
    return frame


@lru_cache(maxsize=1)
def postal_codes() -> dict[str, tuple[str, ...]]:
    """Postal code → the INSEE codes (sorted) of the communes it serves.

    Several communes can share one postal code, so the value is always a tuple; the caller
    decides what an ambiguous code means. Delegated communes count as their parent.
    """
    table = communes()
    insee = table["insee_com"].where(table["commune_type"] != "COMD", table["insee_parente"])
    pairs = pd.DataFrame({"code_postal": table["code_postal"], "insee_com": insee})
    pairs = pairs.drop_duplicates().sort_values(["code_postal", "insee_com"])
    grouped: dict[str, list[str]] = {}  # plain Python over the sorted rows: 5x a pandas groupby
    for code, commune in zip(
        pairs["code_postal"].tolist(), pairs["insee_com"].tolist(), strict=True
    ):
        if isinstance(code, str):  # as groupby, which drops a missing key
            grouped.setdefault(code, []).append(commune)
    return {code: tuple(communes) for code, communes in grouped.items()}


def insee_for_postal(code: str) -> tuple[str, ...]:
    """The INSEE codes a postal code serves, ``()`` when it is unknown.

    Surrounding spaces are ignored, and a 4-digit code is read as one that lost its leading
    zero on the way through a spreadsheet (``"1400"`` → ``"01400"``).
    """
    code = code.strip()
    if code.isdigit() and len(code) == 4:
        code = code.zfill(5)
    return postal_codes().get(code, ())


# --------------------------------------------------------------------------- look-ups by row
# Segmentation's look-ups: supporters resolved to rows of ``communes_by_insee()`` once, then
# every per-commune value read from plain arrays by row number (a million rows, no joins).


@dataclass(frozen=True, eq=False)
class CommuneArrays:
    """Lookup arrays over ``communes_by_insee()`` rows; the last slot of each is 'unknown'.

    A row number of -1 (commune unknown) thus reads -1 (no code) or NaN (no rate).
    """

    index: pd.Index  # INSEE codes, in row order
    density_labels: list[str]  # DENSITY_CLASSES labels, in code order
    density: np.ndarray  # density class code per row
    dep_codes: list[str]  # département codes, in code order
    dep_names: list[str]
    dep: np.ndarray  # département code per row
    unemployment: np.ndarray  # unemployment rate per row
    dep_population: np.ndarray  # population per département, in ``dep_codes`` order


@lru_cache(maxsize=1)
def commune_arrays() -> CommuneArrays:
    """Lookup arrays over ``communes_by_insee()`` rows; the last slot of each is 'unknown'."""
    table = communes_by_insee()
    density_labels = [label for label, _ in DENSITY_CLASSES]
    density = pd.Categorical(table["density_class"], categories=density_labels).codes.astype(
        np.int16
    )
    dep_codes = departements()["insee_dep"].tolist()
    dep_names = departements()["departement"].tolist()
    dep = pd.Categorical(table["insee_dep"], categories=dep_codes).codes.astype(np.int16)
    unemployment = table["unemployment_rate"].to_numpy(np.float64)
    population = (
        table.groupby("insee_dep")["population_2021"]
        .sum()
        .reindex(dep_codes)
        .fillna(0)
        .to_numpy(np.int64)
    )
    return CommuneArrays(
        index=table.index,
        density_labels=density_labels,
        density=np.append(density, -1),
        dep_codes=dep_codes,
        dep_names=dep_names,
        dep=np.append(dep, -1),
        unemployment=np.append(unemployment, np.nan),
        dep_population=population,
    )


def commune_rows(frame: pd.DataFrame) -> np.ndarray:
    """Each row's commune as a row of ``communes_by_insee()`` (-1 when unknown).

    Reads ``insee_com`` (spaces and case ignored), else an unambiguous ``postal_code`` (one
    that serves a single commune); ``frame`` may have either column or both.
    """
    index = commune_arrays().index
    rows = np.full(len(frame), -1, dtype=np.int32)
    if "insee_com" in frame:
        # Factorise first: a million codes hold a few thousand distinct values to clean.
        codes, uniques = pd.factorize(frame["insee_com"], use_na_sentinel=True)
        cleaned = pd.Index(
            pd.Series(uniques, dtype="string").str.strip().str.upper().fillna(""), dtype=object
        )
        lookup = np.append(index.get_indexer(cleaned), -1).astype(np.int32)
        rows = lookup[codes]
    if "postal_code" in frame:
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            codes, uniques = pd.factorize(frame["postal_code"].iloc[missing], use_na_sentinel=True)
            resolved = []
            for postal in uniques:
                found = insee_for_postal(str(postal)) if isinstance(postal, str) else ()
                resolved.append(
                    index.get_loc(found[0]) if len(found) == 1 and found[0] in index else -1
                )
            rows[missing] = np.append(np.asarray(resolved, dtype=np.int32), -1)[codes]
    return rows


#: Paris, Lyon and Marseille (INSEE code → name): the tables hold them as arrondissements only.
PLM_CITIES: dict[str, str] = {"75056": "Paris", "69123": "Lyon", "13055": "Marseille"}
_PLM_DEPARTEMENTS = {"75056": "75", "69123": "69", "13055": "13"}


@lru_cache(maxsize=1)
def commune_names() -> pd.Series:
    """INSEE code (COM and ARM rows) → the commune's name with its article, as a sentence
    names it ("Le Havre", "Les Abymes", "Paris 20e Arrondissement")."""
    table = communes()
    own = table[table["commune_type"].isin(_OWN_COMMUNE_TYPES)].drop_duplicates("insee_com")
    names = own["commune_article"].fillna(own["commune"])
    return pd.Series(names.to_numpy(), index=pd.Index(own["insee_com"]), dtype=object)


@lru_cache(maxsize=1)
def commune_types() -> pd.Series:
    """INSEE code → commune type (``COM``, ``ARM`` or ``COMD``)."""
    return communes().drop_duplicates("insee_com").set_index("insee_com")["commune_type"]


def arrondissements(city: str) -> tuple[str, ...]:
    """The INSEE codes (sorted) of the arrondissements of a city in ``PLM_CITIES``."""
    table = communes_by_insee()
    kinds = commune_types()
    return tuple(
        sorted(
            c
            for c in table.index
            if c.startswith(city[:2])
            and kinds.get(c) == "ARM"
            and table.at[c, "insee_dep"] == _PLM_DEPARTEMENTS[city]
        )
    )


@lru_cache(maxsize=1)
def departements() -> pd.DataFrame:
    """The 101 départements; codes as text.

    ``insee_com_cheflieu`` uses 75056, 69123 and 13055 for Paris, Lyon and Marseille, which
    ``communes()`` only has as arrondissements; ``insee_com_centre`` mostly holds a postal code.
    """
    text = ("insee_dep", "insee_reg", "departement", "departement_article", "lambda", "phi")
    codes = ("insee_com_cheflieu", "insee_com_centre")
    return _read_table(
        "departements.csv", {column: "str" for column in (*text, *codes)} | _PLACE_NUMBERS
    )


@lru_cache(maxsize=1)
def regions() -> pd.DataFrame:
    """The 18 régions; codes as text."""
    text = (
        "insee_reg",
        "region",
        "region_article",
        "lambda",
        "phi",
        "insee_reg_cheflieu",
        "commune_centre",
    )
    return _read_table("regions.csv", {column: "str" for column in text} | _PLACE_NUMBERS)


# ------------------------------------------------------------ look-ups on code columns
# Ingest checks whole columns of postal and INSEE codes at once: the look-ups below take
# Arrow arrays and are built once per process from the tables above.

__all__ += ["CommuneIndex", "CommuneMatch", "code_positions", "commune_index", "match_communes"]

# Paris, Lyon and Marseille: the commune codes CRMs use for the whole city, whose table rows
# are the arrondissements.
_ARM_TYPE = "ARM"


@dataclass(frozen=True)
class CommuneIndex:
    """The commune table as look-ups on codes; see ``commune_index``."""

    postal_codes: pd.Index  # every postal code
    postal_candidates: pa.Array  # "|"-joined INSEE codes it serves
    insee_codes: pd.Index  # every valid commune code, city codes of Paris/Lyon/Marseille included
    city_candidates: pa.Array  # for each insee code: its arrondissements ("" when not a city)
    pair_keys: pd.Index  # "postal|insee"
    pair_insee: pa.Array  # the commune a pair means ("|"-joined when several arrondissements)


@lru_cache(maxsize=1)
def commune_index() -> CommuneIndex:
    """Postal codes, commune codes and (postal, commune) pairs, each with what it resolves to.

    Delegated communes count as their parent; a city code (Paris 75056, Lyon 69123,
    Marseille 13055) is valid and stands for its arrondissements.
    """
    table = communes()
    by_postal = postal_codes()
    own = table["insee_com"].where(table["commune_type"] != "COMD", table["insee_parente"])
    pairs = pd.DataFrame({"postal": table["code_postal"], "key_insee": own, "insee": own})
    arrondissements = table[table["commune_type"] == _ARM_TYPE]
    city_pairs = pd.DataFrame(
        {
            "postal": arrondissements["code_postal"],
            "key_insee": arrondissements["insee_parente"],
            "insee": arrondissements["insee_com"],
        }
    )
    pairs = (
        pd.concat([pairs, city_pairs])
        .drop_duplicates()
        .sort_values(["postal", "key_insee", "insee"])
    )
    # Grouped in plain Python over the sorted rows: a pandas groupby-agg with a Python
    # function costs a second here, paid by every ingest process (40,000 small groups).
    resolved: dict[str, list[str]] = {}
    for postal, key_insee, insee in zip(
        pairs["postal"].tolist(), pairs["key_insee"].tolist(), pairs["insee"].tolist(), strict=True
    ):
        if isinstance(postal, str) and isinstance(key_insee, str):  # groupby drops missing keys
            resolved.setdefault(f"{postal}|{key_insee}", []).append(insee)
    city_sets: dict[str, set[str]] = {}
    for parent, code in zip(
        arrondissements["insee_parente"].tolist(),
        arrondissements["insee_com"].tolist(),
        strict=True,
    ):
        if isinstance(parent, str):
            city_sets.setdefault(parent, set()).add(code)
    cities = {parent: "|".join(sorted(codes)) for parent, codes in city_sets.items()}
    insee_codes = sorted(set(own.dropna()) | set(cities))
    return CommuneIndex(
        postal_codes=pd.Index(list(by_postal), dtype=object),
        postal_candidates=pa.array(["|".join(codes) for codes in by_postal.values()], pa.string()),
        insee_codes=pd.Index(insee_codes, dtype=object),
        city_candidates=pa.array([cities.get(code, "") for code in insee_codes], pa.string()),
        pair_keys=pd.Index(list(resolved), dtype=object),
        pair_insee=pa.array(["|".join(codes) for codes in resolved.values()], pa.string()),
    )


def code_positions(values: pa.Array, known: pd.Index) -> np.ndarray:
    """Position of each value in ``known`` (-1 when absent). A pandas Index keeps its hash
    table between calls, where Arrow's is_in would rebuild one per call."""
    return known.get_indexer(values.to_numpy(zero_copy_only=False))


@dataclass
class CommuneMatch:
    """What each (postal code, commune code) pair of ``match_communes`` means."""

    candidates: pa.Array  # "|"-joined INSEE codes it may mean ("" for none)
    insee: pa.Array  # the commune when there is exactly one candidate, else ""
    ambiguous: np.ndarray  # several candidates
    mismatch: np.ndarray  # both codes known, but the postal code does not serve the commune


def _mask(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def match_communes(postal: pa.Array, insee: pa.Array) -> CommuneMatch:
    """Resolve pairs of known codes (normalised, "" when empty or unknown) to communes."""
    table = commune_index()
    has_postal, has_insee = ~_mask(pc.equal(postal, "")), ~_mask(pc.equal(insee, ""))
    # Both known: the postal code must serve the commune (for a city code, it names the
    # arrondissement).
    found = code_positions(pc.binary_join_element_wise(postal, insee, "|"), table.pair_keys)
    both = has_postal & has_insee
    mismatch = both & (found < 0)
    from_pair = table.pair_insee.take(pa.array(np.maximum(found, 0)))
    # Postal code only: it may serve several communes, and the ambiguity stays explicit.
    from_postal = table.postal_candidates.take(
        pa.array(np.maximum(code_positions(postal, table.postal_codes), 0))
    )
    # Commune code only: a city code (Paris 75056…) stands for its arrondissements.
    city = table.city_candidates.take(
        pa.array(np.maximum(code_positions(insee, table.insee_codes), 0))
    )
    from_insee = pc.if_else(pc.equal(city, ""), insee, city)
    candidates = pc.if_else(
        pa.array(both & ~mismatch),
        from_pair,
        pc.if_else(
            pa.array(has_insee & ~has_postal),
            from_insee,
            pc.if_else(pa.array(has_postal & ~has_insee), from_postal, ""),
        ),
    )
    ambiguous = _mask(pc.match_substring(candidates, "|"))
    return CommuneMatch(
        candidates=candidates,
        insee=pc.if_else(pa.array(ambiguous), "", candidates),
        ambiguous=ambiguous,
        mismatch=mismatch,
    )
