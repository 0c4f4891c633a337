""" "Ce qui marche" (issue 18 item 5): what the night learnt, in French, with its chart, on
the staff overview; cells under the k-anonymity floor never shown."""

from __future__ import annotations

import io
import json
from pathlib import Path

from bundle_samples import build, render_sample_pages
from PIL import Image

from matinale.learn import learn
from matinale.learn.charts import draw_what_works, pooled_by_band
from matinale.learn.learner import CountRow
from matinale.learn.report import CHART, TABLE, ratio_sentence, what_works
from matinale.store import LocalStore

SEGMENTS = {
    "65plus-p01": {
        "id": "65plus-p01",
        "label": "65 ans et + · santé",
        "band": "65plus",
        "band_label": "65 ans et +",
    },
    "65plus-p02": {
        "id": "65plus-p02",
        "label": "65 ans et + · école",
        "band": "65plus",
        "band_label": "65 ans et +",
    },
    "18-24-p01": {
        "id": "18-24-p01",
        "label": "18–24 ans · emploi",
        "band": "18-24",
        "band_label": "18–24 ans",
    },
}
LABELS = {
    "devoir-civique": "le devoir civique",
    "familles": "nos familles",
    "mobiliser": "faire barrage",
}


def _rows() -> list[CountRow]:
    hour = "2027-01-04T18:00+01:00"
    rows = []

    def cell(segment: str, angle: str, shown: int, shared: int) -> None:
        rows.append(
            CountRow(
                hour, "2027-01-04", segment, "sante", "whatsapp", angle, "variant_shown", shown
            )
        )
        rows.append(
            CountRow(hour, "2027-01-04", segment, "sante", "whatsapp", angle, "share", shared)
        )

    cell("65plus-p01", "devoir-civique", 1000, 54)  # 5.4 % against 3 %: ×1.8
    cell("65plus-p01", "familles", 1000, 30)
    cell("65plus-p02", "devoir-civique", 30, 20)  # under the floor of 50: teaches nothing
    cell("18-24-p01", "mobiliser", 800, 40)
    rows.append(CountRow(hour, "2027-01-04", "65plus-p01", "", "", "", "open", 900))
    rows.append(
        CountRow("2027-01-04T07:00+01:00", "2027-01-04", "18-24-p01", "", "", "", "open", 400)
    )
    return rows


def _document() -> dict:
    learned = learn(
        _rows(),
        segments={s: v["band"] for s, v in SEGMENTS.items()},
        themes=["sante"],
        eligible=lambda segment, theme: (
            ["mobiliser"] if segment.startswith("18") else ["devoir-civique", "familles"]
        ),
        edition="2027-01-05",
        seed=7,
    )
    return what_works(learned, segments=SEGMENTS, themes={"sante": "Santé"}, angle_labels=LABELS)


def test_each_measured_cell_gets_its_rates_weights_and_a_french_sentence() -> None:
    document = _document()
    rows = {row["segment"]: row for row in document["rows"]}
    seniors = rows["65plus-p01"]
    assert [a["angle"] for a in seniors["angles"]] == ["devoir-civique", "familles"]
    best = seniors["angles"][0]
    assert (best["shares"], best["exposures"]) == (54, 1000)
    assert best["low"] < best["rate"] < best["high"] and 0 < best["weight"] <= 1
    ratio = best["rate"] / seniors["angles"][1]["rate"]
    assert 1.6 < ratio < 2.0
    assert seniors["sentence"] == (
        f"65 ans et + · santé, Santé : le devoir civique ×{ratio:.1f} face à l’argument suivant".replace(
            ".", ","
        )
    )
    # The segment under the floor shows no count of its own: only what its band lends.
    thin = rows.get("65plus-p02")
    assert thin is None or all(a["exposures"] == 0 and a["shares"] == 0 for a in thin["angles"])
    assert "20" not in json.dumps(thin or {})
    # Hour profiles per band, for the chart.
    assert document["bands"]["65plus"]["hours"][18] == 900
    assert document["bands"]["18-24"]["label"] == "18–24 ans"


def test_one_angle_measured_reads_as_a_rate() -> None:
    angle = {"label": "faire barrage", "rate": 0.05}
    assert (
        ratio_sentence("18–24 ans", [angle])
        == "18–24 ans : faire barrage, 5,0 % de partages par affichage"
    )


def test_the_chart_pools_bands_and_is_a_deterministic_png() -> None:
    document = _document()
    pooled = pooled_by_band(document)
    assert pooled["65plus"][0] == ("le devoir civique", 54, 1000)
    assert all(exposures != 30 for _, _, exposures in pooled["65plus"])  # the thin cell left out
    png = draw_what_works(document)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (1400, 700)
    assert draw_what_works(document) == png
    # Not blank: bars and lines in the band colours.
    assert len(image.convert("RGB").getcolors(1 << 20) or []) > 20


def test_the_staff_overview_shows_what_works(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "work")
    build(store, "b")
    document = _document()
    store.put_bytes(f"b/{TABLE}", json.dumps(document).encode())
    store.put_bytes(f"b/{CHART}", draw_what_works(document))
    overview = render_sample_pages(store, "b", beacon_origin=None)["index.html"].decode()
    assert '<h2 id="titre-ce-qui-marche">Ce qui marche</h2>' in overview
    sentence = next(r["sentence"] for r in document["rows"] if r["segment"] == "65plus-p01")
    assert sentence.endswith("face à l’argument suivant") and sentence in overview
    assert 'src="data:image/png;base64,' in overview and "54 / 1\u202f000" in overview
    # Without a learn stage (older runs), no section at all.
    (tmp_path / "work" / "b" / TABLE).unlink()
    assert (
        "Ce qui marche"
        not in render_sample_pages(store, "b", beacon_origin=None)["index.html"].decode()
    )
