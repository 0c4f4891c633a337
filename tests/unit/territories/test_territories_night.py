"""The segment stage's territories: automatic packs, territories.json and territories.png."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from matinale.territories.chart import draw_map
from matinale.territories.config import AutoPacks, TerritorySettings
from matinale.territories.night import auto_packs, territories_document
from matinale.territories.score import rank_territories

EDITION = date(2026, 11, 24)


def _features(counts: dict[str, int]) -> pd.DataFrame:
    from segment_samples import people

    frames = []
    start = 0
    for code, n in counts.items():
        frames.append(people([20 + i % 60 for i in range(n)], insee=code, start=start))
        start += n
    return pd.concat(frames, ignore_index=True)


def test_auto_packs_name_the_commune_with_its_article_and_respect_the_floor() -> None:
    # Protects: t-<code> packs for the top territories with enough supporters, named as a
    # card says it ("Le Havre"), none under min_supporters, hand-written packs kept.
    from matinale.geo import commune_rows

    features = _features({"76351": 80, "75118": 70, "97101": 60, "29019": 20})
    ranking = rank_territories(commune_rows(features))
    settings = TerritorySettings(auto=AutoPacks(top=10, min_supporters=50))
    packs = auto_packs(ranking, settings, 50, taken=["t-75118"])
    assert {p.id for p in packs} == {"t-76351", "t-97101"}
    havre = next(p for p in packs if p.id == "t-76351")
    assert havre.name == "Le Havre" and havre.level == "commune" and havre.communes == ("76351",)
    assert next(p for p in packs if p.id == "t-97101").name == "Les Abymes"
    assert auto_packs(ranking, replace(settings, auto=None), 50) == []
    arrondissement = auto_packs(ranking, settings, 50)
    assert any(p.id == "t-75118" and p.level == "arrondissement" for p in arrondissement)
    document = territories_document(ranking, 50, rows=100, packs=packs)
    assert "29019" not in {row["insee"] for row in document["territories"]}
    assert document["packs"][0]["name"] in {"Le Havre", "Les Abymes"}


def test_the_map_is_deterministic_and_legible() -> None:
    # Protects: byte-identical PNG for the same night (a test and the manifest's digest can
    # rely on it), 1,200 px wide, drawn in well under the stage's budget.
    rows = np.random.default_rng(2).integers(0, 34_000, 200_000).astype(np.int32)
    ranking = rank_territories(rows)
    shown = ranking.published(50)
    first = draw_map(ranking.frame, shown, title="Territoires prioritaires")
    second = draw_map(ranking.frame, shown, title="Territoires prioritaires")
    assert first == second
    image = Image.open(io.BytesIO(first))
    assert image.size == (1200, 1008)
    assert b"Matplotlib" not in first  # no software version in the metadata


def test_a_map_of_every_commune_fits_the_overview_with_its_colours() -> None:
    # Protects the overview's size: at 10M supporters every commune holds some, the map
    # (inlined in the overview) was 836 KB as matplotlib's RGBA and the overview went over
    # limits.overview (1 MB), so the 10M night failed its checks. Every commune of the
    # reference table on the map: a palette PNG well under 400 KB, pixel for pixel close to
    # the RGBA render (octree, no dithering: flat colours stay flat).
    from matinale.geo import communes_by_insee

    rows = np.repeat(np.arange(len(communes_by_insee()), dtype=np.int32), 3)
    ranking = rank_territories(rows)
    shown = ranking.published(1)
    assert len(shown) > 30_000
    png = draw_map(ranking.frame, shown, title="Territoires prioritaires")
    assert len(png) < 400_000, len(png)
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "P" and image.size == (1200, 1008)


def test_the_palette_keeps_each_pixel_close_and_is_deterministic() -> None:
    # Protects the map's legibility after the palette: no pixel moves by more than 32 of
    # 255 on any channel from the RGBA render, transparent pixels become white (not black).
    from matinale.territories.chart import palette_png

    rng = np.random.default_rng(5)
    source = np.full((120, 160, 4), 255, dtype=np.uint8)
    for colour in ((214, 39, 40), (255, 127, 14), (44, 160, 44), (31, 119, 180), (120, 120, 120)):
        y, x = rng.integers(0, 110), rng.integers(0, 150)
        source[y : y + 10, x : x + 10, :3] = colour
    source[:5, :5, 3] = 0  # a transparent corner
    buffer = io.BytesIO()
    Image.fromarray(source, "RGBA").save(buffer, format="PNG")
    first = palette_png(buffer.getvalue())
    assert first == palette_png(buffer.getvalue())
    with Image.open(io.BytesIO(first)) as image:
        assert image.mode == "P"
        out = np.asarray(image.convert("RGB"), dtype=np.int16)
    expected = source[:, :, :3].astype(np.int16)
    expected[:5, :5] = 255
    assert np.abs(out - expected).max() <= 32


def test_run_segment_writes_the_territories_into_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Protects the night integration: territories.json and territories.png land in the run's
    # bundle (so the manifest lists them), auto packs become segments whose place is the
    # commune's name, and no territory under the floor is published.
    from matinale.night import RunContext, run_segment
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    monkeypatch.setenv("MATINALE_VAR", str(tmp_path))
    settings = load_settings()
    store = LocalStore(settings.work_dir)
    features = _features({"76351": 400, "59350": 300, "29019": 300, "13201": 120, "35238": 20})
    ctx = RunContext(edition=EDITION, run="r1", supporters_file="x.csv", brief_file="x.yaml")
    store.put_frame(f"{ctx.prefix}/private/features.parquet", features)
    summary = run_segment(settings, store, ctx)
    document = json.loads(store.get_bytes(f"{ctx.bundle}/territories.json"))
    codes = [row["insee"] for row in document["territories"]]
    assert "35238" not in codes and set(codes) <= {"76351", "59350", "29019", "13201"}
    assert store.get_bytes(f"{ctx.bundle}/territories.png").startswith(b"\x89PNG")
    segments = store.get_json(f"{ctx.prefix}/segments.json")["segments"]
    places = {s["id"]: s["territory"]["name"] for s in segments if s["kind"] == "territory"}
    assert places.get("t-76351") == "Le Havre" and places.get("t-13201") is not None
    assert "t-35238" not in places
    assert (
        summary["territories"]["auto_packs"]
        and "Le Havre" in summary["territories"]["territories_text"]
    )


def test_the_nights_charts_draw_without_pyplot() -> None:
    # A bare Figure: no global figure registry shared by threads, no GUI backend to pick,
    # and a lighter import in every task that draws.
    import subprocess
    import sys

    code = (
        "import sys, matinale.territories.chart, matinale.learn.charts; "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "False"
