"""The map: metropolitan France with overseas insets, one dot per commune, coloured by priority.

Drawn with matplotlib's Agg backend (no display) from the commune table's coordinates, as
a PNG of 1,200 × 1,000 pixels with 13–16 px text: legible on a laptop and, zoomed, on a
phone. Every commune with coordinates is a light grey dot; the ranked territories (at least
the k-anonymity floor of supporters) are coloured by priority class, the top ones numbered as
in the table beside the map. Territories without coordinates (98x…) are left out and counted
in the caption. The output is deterministic: no random jitter, and PNG metadata without the
software version or a date.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from matinale.territories.elections import ATTRIBUTION

__all__ = ["PRIORITY_CLASSES", "draw_map", "palette_png"]

#: Priority classes of the ranked territories, by rank share (best first): label and colour.
PRIORITY_CLASSES: tuple[tuple[str, float, str], ...] = (
    ("priorité très haute", 0.05, "#b2182b"),
    ("haute", 0.20, "#ef8a62"),
    ("moyenne", 0.50, "#fddbc7"),
    ("basse", 1.00, "#92c5de"),
)
_BASE = "#d9d9d9"
# (code prefix, title, lng range, lat range) of the overseas insets, left to right.
_INSETS = (
    ("971", "Guadeloupe", (-61.9, -60.9), (15.8, 16.6)),
    ("972", "Martinique", (-61.3, -60.75), (14.35, 14.9)),
    ("973", "Guyane", (-54.7, -51.5), (2.0, 5.9)),
    ("974", "La Réunion", (55.2, 55.9), (-21.45, -20.85)),
    ("976", "Mayotte", (44.95, 45.35), (-13.05, -12.6)),
)
_METRO = ((-5.3, 9.7), (41.2, 51.2))
_ASPECT = 1 / np.cos(np.radians(46.5))  # degrees of longitude are shorter at 46.5° N


def _classes(ranks: np.ndarray, count: int) -> np.ndarray:
    """Priority class index (0 = highest) of each rank among ``count`` ranked territories."""
    bounds = np.array([share for _, share, _ in PRIORITY_CLASSES]) * max(count, 1)
    return np.searchsorted(bounds, ranks, side="left").clip(0, len(PRIORITY_CLASSES) - 1)


def _dots(ax: Axes, places: pd.DataFrame, ranked: pd.DataFrame, size: float, top: int) -> None:
    ax.scatter(places["lng"], places["lat"], s=size * 0.25, c=_BASE, linewidths=0)
    if len(ranked):
        colours = np.array([colour for _, _, colour in PRIORITY_CLASSES])
        classes = _classes(ranked["rank"].to_numpy(), int(ranked.attrs.get("count", len(ranked))))
        # Lowest priority first, so the highest is drawn on top.
        order = np.argsort(-ranked["rank"].to_numpy(), kind="stable")
        ax.scatter(
            ranked["lng"].to_numpy()[order],
            ranked["lat"].to_numpy()[order],
            s=size * 3,
            c=colours[classes[order]],
            linewidths=0.3,
            edgecolors="#555555",
        )
        best = ranked[ranked["rank"] <= top]
        for lng, lat, rank in zip(best["lng"], best["lat"], best["rank"], strict=True):
            ax.annotate(
                str(rank),
                (lng, lat),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=11,
                fontweight="bold",
                color="#222222",
            )


def _frame(ax: Axes, lng: tuple[float, float], lat: tuple[float, float], title: str) -> None:
    ax.set_xlim(*lng)
    ax.set_ylim(*lat)
    ax.set_aspect(_ASPECT if title == "" else 1 / np.cos(np.radians(abs(sum(lat) / 2))))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#bbbbbb")
    if title:
        ax.set_title(title, fontsize=11, pad=2)


def draw_map(
    places: pd.DataFrame, ranked: pd.DataFrame, *, title: str, top: int = 10, note: str = ""
) -> bytes:
    """The PNG: ``places`` (every territory, columns lat/lng, NaN = no coordinates) in grey,
    ``ranked`` (published rows, columns lat/lng/rank) coloured by priority class."""
    places = places.dropna(subset=["lat", "lng"])
    missing = int((ranked["lat"].isna() | ranked["lng"].isna()).sum())
    shown = ranked.dropna(subset=["lat", "lng"])
    shown.attrs["count"] = len(ranked)
    # A bare Figure, not pyplot: no global figure registry, no GUI backend (matplotlib's
    # advice for servers); savefig renders with Agg.
    with matplotlib.rc_context({"font.family": "DejaVu Sans", "svg.hashsalt": "matinale"}):
        figure = Figure(figsize=(10, 8.4), dpi=120)
        main = figure.add_axes((0.22, 0.1, 0.76, 0.82))
        _dots(main, places, shown, 1.0, top)
        _frame(main, *_METRO, "")
        for number, (prefix, name, lng, lat) in enumerate(_INSETS):
            ax = figure.add_axes((0.02, 0.76 - number * 0.165, 0.18, 0.14))
            _dots(ax, places[places.index.str.startswith(prefix)], shown, 4.0, top)
            _frame(ax, lng, lat, name)
        figure.suptitle(title, fontsize=16, x=0.6, y=0.975)
        handles = [
            Line2D([], [], marker="o", linestyle="", color=colour, markersize=9, label=label)
            for label, _, colour in PRIORITY_CLASSES
        ]
        # Lower left is the Bay of Biscay: lower right would hide Corsica.
        main.legend(handles=handles, loc="lower left", fontsize=11, frameon=True, borderaxespad=0.3)
        caption = ATTRIBUTION
        if missing:
            caption = f"{missing} territoire(s) classé(s) sans coordonnées, hors carte. {caption}"
        if note:
            caption = f"{note} {caption}"
        figure.text(0.5, 0.03, caption, ha="center", fontsize=10, color="#444444", wrap=True)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return palette_png(buffer.getvalue())


def palette_png(png: bytes) -> bytes:
    """``png`` with 256 colours at most (libimagequant-free: Pillow's octree, no dithering).

    The map is inlined in the staff overview (the pages' CSP allows only ``data:`` images),
    so its bytes count against ``limits.overview``. matplotlib writes RGBA; with a dot for
    every commune that holds supporters (10M supporters) that is 836 KB, and the overview
    went over its 1 MB. The map has a few flat colours and their anti-aliasing: 256 of
    them keep it at SSIM 0.996 against the RGBA render (measured on that 10M map), in
    194 KB. Deterministic: the same PNG in gives the same PNG out.
    """
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        image.load()
        rgba = image.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    reduced = flat.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    reduced.save(out, format="PNG", optimize=True)
    return out.getvalue()
