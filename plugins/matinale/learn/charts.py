"""The night's "Ce qui marche" chart (issue 18 item 5): one PNG staff read at a glance.

Left, per age band, each angle's share rate (shares per exposure, pooled over the band's
segments and themes that passed the k-anonymity floor) as a bar with its 90 % credible
interval, the best angle of each band first; right, each band's hour-of-day profile of
opens and clicks (share of the band's day, Paris time). Drawn with matplotlib's Agg
backend, deterministic (no date or version in the PNG's metadata), French labels.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import beta

__all__ = ["draw_what_works", "pooled_by_band"]

_COLOURS = ("#1b3a6b", "#c0392b", "#f2b705", "#2e8b57", "#7f3c8d", "#e67e22", "#11a579", "#555555")


def pooled_by_band(document: Mapping[str, Any]) -> dict[str, list[tuple[str, int, int]]]:
    """Band → [(angle label, shares, exposures)], best rate first, from what-works.json's rows."""
    sums: dict[str, dict[str, list[int]]] = {}
    for row in document["rows"]:
        band = row["band"] or "territory"
        for angle in row["angles"]:
            if not angle["exposures"]:
                continue  # lent by the band: the segment's own counts are under the floor
            cell = sums.setdefault(band, {}).setdefault(angle["label"], [0, 0])
            cell[0] += int(angle["shares"])
            cell[1] += int(angle["exposures"])
    return {
        band: sorted(
            ((label, s, e) for label, (s, e) in cells.items()),
            key=lambda item: (-item[1] / item[2], item[0]),
        )
        for band, cells in sorted(sums.items())
    }


def draw_what_works(document: Mapping[str, Any]) -> bytes:
    """The PNG (1,400 × 700 px) of what-works.json (:func:`matinale.learn.report.what_works`)."""
    labels = {band: data["label"] for band, data in document["bands"].items()}
    bands = pooled_by_band(document)
    # One colour per band in both panels.
    colour_of = {
        band: _COLOURS[i % len(_COLOURS)]
        for i, band in enumerate(sorted({*document["bands"], *bands}))
    }
    # A bare Figure, not pyplot: no global figure registry, no GUI backend (matplotlib's
    # advice for servers); savefig renders with Agg.
    figure = Figure(figsize=(14, 7), dpi=100)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    ticks: list[str] = []
    y = 0.0
    for band, cells in bands.items():
        colour = colour_of[band]
        for label, shares, exposures in cells:
            rate = shares / exposures
            low, high = beta.ppf([0.05, 0.95], 1 + shares, 1 + exposures - shares)
            left.barh(y, 100 * rate, color=colour, height=0.7)
            left.errorbar(
                100 * rate,
                y,
                xerr=[[100 * (rate - low)], [100 * (high - rate)]],
                fmt="none",
                ecolor="#222222",
                capsize=3,
            )
            ticks.append(f"{labels.get(band, band)} · {label}")
            y += 1
        y += 0.6
    if ticks:
        left.set_yticks(_positions(bands), ticks, fontsize=11)
        left.invert_yaxis()
    else:
        left.text(0.5, 0.5, "Pas encore assez de partages mesurés", ha="center", va="center")
        left.set_yticks([])
    left.set_xlabel("Partages pour 100 affichages (intervalle à 90 %)", fontsize=12)
    left.set_title("Quel argument est partagé, par tranche d’âge", fontsize=14, loc="left")
    left.spines[["top", "right"]].set_visible(False)

    hours = np.arange(24)
    for band, data in document["bands"].items():
        counts = np.asarray(data["hours"], dtype=float)
        right.plot(
            hours,
            100 * counts / counts.sum(),
            color=colour_of[band],
            linewidth=2,
            label=data["label"],
        )
    right.set_xticks(range(0, 24, 3), [f"{h} h" for h in range(0, 24, 3)], fontsize=11)
    right.set_xlabel("Heure de Paris", fontsize=12)
    right.set_ylabel("Part des ouvertures du jour (%)", fontsize=12)
    right.set_title("Quand chaque tranche ouvre ses messages", fontsize=14, loc="left")
    right.spines[["top", "right"]].set_visible(False)
    if document["bands"]:
        right.legend(fontsize=10, frameon=False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _positions(bands: Mapping[str, list[Any]]) -> list[float]:
    """The bars' y positions: one per angle, a gap between bands (as drawn above)."""
    positions: list[float] = []
    y = 0.0
    for cells in bands.values():
        for _ in cells:
            positions.append(y)
            y += 1
        y += 0.6
    return positions
