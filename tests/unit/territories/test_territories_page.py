"""The staff overview's partial: the map inlined beside the top table; nothing without data."""

from __future__ import annotations

import json

from matinale.bundle.page import _pages_env
from matinale.territories.page import overview_model

DOCUMENT = {
    "territories": [
        {
            "insee": "76351",
            "rank": 1,
            "nom": "Le Havre",
            "score": 1.0,
            "abstention": 42.2,
            "supporters": 80,
            "reach": 0.47,
        },
        {
            "insee": "01004",
            "rank": 2,
            "nom": "Ambérieu-en-Bugey",
            "score": 0.5,
            "abstention": 30.1,
            "supporters": 60,
            "reach": 3.7,
        },
    ],
    "floor": 50,
    "formula": "score = …",
    "attribution": "Sources : ministère de l’Intérieur (résultats électoraux), INSEE — Licence Ouverte 2.0",
    "packs": [],
}


def test_partial_shows_the_map_and_the_top_table() -> None:
    # Protects: the overview shows the map (as data:, the only image source its CSP allows)
    # with the ranked territories, codes as text (01004 keeps its zero) and the attribution.
    files = {"territories.json": json.dumps(DOCUMENT).encode(), "territories.png": b"\x89PNG..."}
    model = overview_model(files)
    assert model is not None and model["map"].startswith("data:image/png;base64,")
    html = _pages_env().get_template("_territories.html.j2").render(territories=model)
    assert "Territoires prioritaires" in html and 'src="data:image/png;base64,' in html
    assert "Le Havre" in html and "01004" in html and "Licence Ouverte 2.0" in html
    assert "1. Le Havre" in model["alt"]


def test_partial_is_empty_for_a_run_without_territories() -> None:
    # Protects older runs (and the overview of runs without the stage's files).
    assert overview_model({}) is None
    assert "<section" not in _pages_env().get_template("_territories.html.j2").render()
