"""What the staff overview and the Matinale view show of tonight's territories.

:func:`overview_model` turns the bundle's ``territories.json`` and ``territories.png`` into
the ``territories`` variable of the partial ``templates/_territories.html.j2`` (included by
the overview): the map inlined as a ``data:`` URI (the pages' CSP allows no other image
source) with the top table beside it. Aggregates only, as published.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MAP", "TABLE", "overview_model"]

TABLE = "territories.json"
MAP = "territories.png"


def overview_model(files: Mapping[str, bytes], *, top: int = 10) -> dict[str, Any] | None:
    """The partial's variable, or ``None`` when the run has no territories (older runs)."""
    if TABLE not in files or MAP not in files:
        return None
    document = json.loads(files[TABLE])
    rows = document["territories"][:top]
    names = ", ".join(f"{row['rank']}. {row['nom']}" for row in rows[:5])
    return {
        "map": "data:image/png;base64," + base64.b64encode(files[MAP]).decode("ascii"),
        "alt": (
            "Carte de France métropolitaine et des outre-mer : une pastille par commune,"
            " colorée selon la priorité ; en tête : " + (names or "aucun territoire publié") + "."
        ),
        "rows": rows,
        "floor": document["floor"],
        "formula": document["formula"],
        "attribution": document["attribution"],
        "packs": document.get("packs", []),
    }
