"""The priority score of every commune or arrondissement, and the ranking built on it.

For a territory *t* with population *P* (the extract's legal population, COG 2026):

- **abstention** *a* = the weighted mean abstention rate (%) over the comparable elections
  named in ``territories.yaml`` (``score.elections``), over those with a figure only;
- **potential** = *a* / 100 × *P*: the estimated abstainers. Abstention is a share of
  *registered voters*, which the extract does not hold: population stands in for them, so
  the figure overstates abstainers where many inhabitants are minors or foreigners;
- **reach** = supporters in *t* (tonight's file) per 1,000 inhabitants;
- **score** = potential ^ ``potential_weight`` × reach ^ ``reach_weight`` (both 1 by default,
  where the score is the abstention rate times the supporters: where tonight's activists can
  bring back the most abstainers).

A territory without any abstention figure has no score (not 0) and is not ranked. Counting a
million supporters is one ``bincount`` over their commune rows (:func:`matinale.geo.commune_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matinale.geo import commune_arrays
from matinale.territories.config import TerritorySettings
from matinale.territories.elections import ELECTIONS, abstention, election_table

__all__ = ["FORMULA", "Ranking", "rank_territories", "supporter_counts"]

FORMULA = (
    "score = (abstention moyenne × population)^{pw} × (sympathisants pour 1 000 habitants)^{rw}"
    " ; abstention = moyenne pondérée des élections {elections} ; la population remplace les"
    " inscrits, absents de l’extrait"
)


@dataclass(frozen=True)
class Ranking:
    """Every territory with a score, best first, and the night's counts (no per-person data)."""

    frame: pd.DataFrame  # index insee; nom, departement, population, abstention, potential,
    # supporters, reach, score, rank, lat, lng
    counts: dict[str, int]
    formula: str
    has_supporters: bool

    def published(self, floor: int) -> pd.DataFrame:
        """The rows that can be shown: at least ``floor`` supporters (the k-anonymity floor).

        Without a supporter file, only public figures exist and every row is shown.
        """
        if not self.has_supporters:
            return self.frame
        shown = self.frame[self.frame["supporters"] >= floor].copy()
        # Ranked among the shown rows: a gap in the ranks would tell how many are hidden.
        shown["rank"] = np.arange(1, len(shown) + 1)
        return shown


def supporter_counts(commune_rows: np.ndarray) -> pd.Series:
    """Supporters per INSEE code (``geo.communes_by_insee()`` order) from their commune rows."""
    index = commune_arrays().index
    known = commune_rows[commune_rows >= 0]
    return pd.Series(np.bincount(known, minlength=len(index)), index=index, dtype=np.int64)


def rank_territories(
    commune_rows: np.ndarray | None, settings: TerritorySettings | None = None
) -> Ranking:
    """Score and rank every territory; ``commune_rows`` are the supporters' rows of
    ``geo.communes_by_insee()`` (-1 unknown), ``None`` to rank on the potential alone."""
    settings = settings or TerritorySettings()
    elections = election_table()
    table = elections.table
    rate = abstention(table, settings.elections)
    population = table["population"].to_numpy(np.float64)
    potential = rate.to_numpy() / 100.0 * population
    frame = pd.DataFrame(
        {
            "nom": table["nom"],
            "departement": table["departement"],
            "population": table["population"].astype("int64"),
            "abstention": rate.round(1),
            "potential": np.round(potential),
            "lat": table["lat"],
            "lng": table["lng"],
        }
    )
    counts = dict(elections.counts)
    counts["no_figure"] = int(rate.isna().sum())
    score = potential**settings.potential_weight
    if commune_rows is not None:
        per_code = supporter_counts(commune_rows)
        supporters = per_code.reindex(table.index, fill_value=0).to_numpy(np.int64)
        counts["supporters"] = int(commune_rows.size)
        counts["supporters_unknown_commune"] = int((commune_rows < 0).sum())
        counts["supporters_outside_results"] = int(per_code.sum() - supporters.sum())
        reach = supporters * 1000.0 / population
        frame["supporters"] = supporters
        frame["reach"] = np.round(reach, 2)
        score = score * reach**settings.reach_weight
    frame["score"] = np.round(score, 1)
    frame = frame[frame["abstention"].notna()]
    order = np.lexsort(
        (frame.index.to_numpy(str), -frame["potential"].to_numpy(), -frame["score"].to_numpy())
    )
    frame = frame.iloc[order]
    frame["rank"] = np.arange(1, len(frame) + 1)
    formula = FORMULA.format(
        pw=settings.potential_weight,
        rw=settings.reach_weight,
        elections=", ".join(f"{ELECTIONS[e][0]} ({w:g})" for e, w in settings.elections.items()),
    )
    return Ranking(
        frame=frame, counts=counts, formula=formula, has_supporters=commune_rows is not None
    )
