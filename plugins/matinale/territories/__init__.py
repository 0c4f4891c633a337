"""Priority territories: where to send the activists, from past elections and tonight's file.

Modules: ``elections`` (the shipped extract, read once, codes as text), ``config`` (the
ranking's settings in ``segments/territories.yaml``), ``score`` (the documented score and the
ranking), ``chart`` (the map), ``night`` (the segment stage's part: automatic packs,
``territories.json`` and ``territories.png``) and ``commands`` (``matinale territories``).
"""

from __future__ import annotations

from matinale.territories.config import TerritorySettings, load_territory_settings
from matinale.territories.elections import ATTRIBUTION, ELECTIONS, election_table
from matinale.territories.score import Ranking, rank_territories

__all__ = [
    "ATTRIBUTION",
    "ELECTIONS",
    "Ranking",
    "TerritorySettings",
    "election_table",
    "load_territory_settings",
    "rank_territories",
]
