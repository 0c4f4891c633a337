""" "Ce qui marche": what the night learnt, as staff read it (issue 18 item 5).

From ``learned.json`` and the run's segments, :func:`what_works` makes the document the
``learn`` stage writes into the bundle (``what-works.json``, beside its chart
``what-works.png``, :mod:`matinale.learn.charts`): per segment and theme with counts, each
angle's share rate with its 90 % credible interval and its weight tonight, and one sentence
in French (« 65 ans et + · santé : devoir civique ×1,8 face à l’argument suivant »); per
band, its hour-of-day profile of opens and clicks. Aggregates above the k-anonymity floor
only: a cell under it shows no count. The staff overview and the Matinale view show it
(:func:`overview_model`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

__all__ = ["CHART", "TABLE", "overview_model", "ratio_sentence", "what_works"]

TABLE = "what-works.json"
CHART = "what-works.png"


def _number(value: float, digits: int = 1) -> str:
    """``1,8``: a French decimal."""
    return f"{value:.{digits}f}".replace(".", ",")


def _percent(value: float) -> str:
    return _number(100 * value) + " %"


def ratio_sentence(who: str, angles: Sequence[Mapping[str, Any]]) -> str:
    """« who : <leading angle> ×1,8 face à l’argument suivant », from angles sorted by
    share rate (best first); « who : <angle> seul mesuré » when there is one."""
    first = angles[0]
    if len(angles) == 1 or not angles[1]["rate"]:
        return f"{who} : {first['label']}, {_percent(first['rate'])} de partages par affichage"
    ratio = first["rate"] / angles[1]["rate"]
    return f"{who} : {first['label']} ×{_number(ratio)} face à l’argument suivant"


def what_works(
    learned: Mapping[str, Any],
    *,
    segments: Mapping[str, Mapping[str, Any]],
    themes: Mapping[str, str],
    angle_labels: Mapping[str, str],
) -> dict[str, Any]:
    """The "Ce qui marche" document (module docstring). ``segments``: id → the segment's
    JSON (label, band, band_label); ``themes``: id → title; ``angle_labels``: framing.yaml's."""
    rows = []
    for segment_id, entry in sorted(learned.get("segments", {}).items()):
        segment = segments.get(segment_id, {})
        label = str(segment.get("label") or segment_id)
        for theme_id, theme in entry.get("themes", {}).items():
            measured = [
                {
                    "angle": angle,
                    "label": angle_labels.get(angle, angle.replace("-", " ")),
                    "shares": post["shares"],
                    "exposures": post["exposures"],
                    "rate": post["mean"],
                    "low": post["low"],
                    "high": post["high"],
                    "weight": round(float(theme["weights"].get(angle, 0.0)), 4),
                    "source": post["source"],
                }
                for angle, post in theme["posterior"].items()
                if post["source"] != "prior"
            ]
            if not any(a["exposures"] for a in measured):
                continue  # nothing of its own above the floor: what its band lends is no news
            measured.sort(key=lambda a: (-a["rate"], a["angle"]))
            rows.append(
                {
                    "segment": segment_id,
                    "label": label,
                    "band": segment.get("band") or "",
                    "theme": theme_id,
                    "theme_title": themes.get(theme_id, theme_id),
                    "leading": theme["leading"],
                    "angles": measured,
                    "sentence": ratio_sentence(
                        f"{label}, {themes.get(theme_id, theme_id)}", measured
                    ),
                }
            )
    rows.sort(key=lambda r: (-(r["angles"][0]["exposures"]), r["segment"], r["theme"]))
    band_labels = {
        str(s.get("band")): str(s.get("band_label") or s.get("band"))
        for s in segments.values()
        if s.get("band")
    }
    return {
        "version": 1,
        "edition": learned.get("edition"),
        "editions_read": list(learned.get("editions_read", [])),
        "k_min": learned.get("k_min"),
        "floor": learned.get("floor"),
        "rows": rows,
        "bands": {
            band: {"label": band_labels.get(band, band), "hours": list(data["hours"])}
            for band, data in sorted(learned.get("bands", {}).items())
            if band != "territory" and sum(data["hours"])
        },
    }


def overview_model(files: Mapping[str, bytes], *, top: int = 12) -> dict[str, Any] | None:
    """The "Ce qui marche" section of the staff overview, or None (no learn stage ran)."""
    from matinale.bundle.common import french_date

    if TABLE not in files:
        return None
    document = json.loads(files[TABLE])
    rows = [
        {
            **row,
            "angles": [
                {
                    **angle,
                    "rate_text": _percent(angle["rate"]),
                    "interval_text": f"{_number(100 * angle['low'])}–{_percent(angle['high'])}",
                    "weight_text": _number(100 * angle["weight"], 0) + " %",
                    "counts_text": f"{angle['shares']:,} / {angle['exposures']:,}".replace(
                        ",", "\u202f"
                    ),
                }
                for angle in row["angles"]
            ],
        }
        for row in document["rows"][:top]
    ]
    editions = document["editions_read"]
    return {
        "chart": (
            "data:image/png;base64," + base64.b64encode(files[CHART]).decode("ascii")
            if CHART in files
            else None
        ),
        "alt": (
            "Taux de partage par argument et par tranche d’âge, avec leur intervalle ; "
            "heures d’ouverture des messages par tranche d’âge. En tête : "
            + ("; ".join(r["sentence"] for r in rows[:3]) or "rien de mesuré encore")
            + "."
        ),
        "rows": rows,
        "count": len(document["rows"]),
        "editions": len(editions),
        "since": french_date(date.fromisoformat(editions[0])) if editions else None,
        "k_min": document["k_min"],
        "floor_percent": _number(100 * float(document["floor"] or 0), 0),
    }
