"""Visual cards: sizes and encodings, text fitting, contrast, QR codes, determinism, stage output."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
import zxingcpp
from PIL import Image, ImageChops

from matinale import visuals
from matinale.content import tracked_link
from matinale.visuals import (
    BrandError,
    CardError,
    CardJob,
    TextFitError,
    alt_text,
    card_filename,
    contact_sheets,
    contact_strip,
    contrast_ratio,
    load_kit,
    qr_modules,
    render_card,
    render_cards,
    worker_count,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "content_templates"
EDITION = date(2026, 11, 24)
COMMUNE = "Saint-Remy-en-Bouzemont-Saint-Genest-et-Isson"
LINK = tracked_link("https://ensemble-demain.example.org/sante", channel="card", edition=EDITION, content="65plus-p03")
FIELDS = {
    "tagline": "Voter, c'est un devoir civique : transmettons une France solidaire.",
    "headline": f"Un médecin pour chacun à {COMMUNE}",
    "body": "Ouvrir 500 maisons de santé là où l'on attend des mois pour un rendez-vous ! Où ? Près de chez vous.",
    "cta": "Venez à la réunion publique de votre ville",
    "link": LINK,
    "footer": "Ensemble Demain – campagne de Camille Durand. Ne pas jeter sur la voie publique.",
}
SIZES = {"square": (1080, 1080), "landscape": (1200, 675), "story": (1080, 1920)}


def _kit_copy(tmp_path: Path, *, brand: dict[str, Any] | None = None, layouts: dict[str, Any] | None = None) -> Path:
    """A copy of the shipped kit with some of brand.yaml / the layouts changed."""
    target = tmp_path / "content_templates"
    (target / "cards").mkdir(parents=True)
    shutil.copytree(TEMPLATES / "fonts", target / "fonts")
    raw_brand = yaml.safe_load((TEMPLATES / "brand.yaml").read_text(encoding="utf-8"))
    for key, value in (brand or {}).items():
        raw_brand[key] = {**raw_brand[key], **value} if isinstance(value, dict) and key in raw_brand else value
    (target / "brand.yaml").write_text(yaml.safe_dump(raw_brand, allow_unicode=True), encoding="utf-8")
    for name in raw_brand["cards"]["formats"]:
        raw = yaml.safe_load((TEMPLATES / "cards" / f"{name}.yaml").read_text(encoding="utf-8"))
        change = (layouts or {}).get(name)
        if change:
            raw = change(raw)
        (target / "cards" / f"{name}.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return target


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --------------------------------------------------------------------------- sizes, formats


@pytest.mark.parametrize("name", ["square", "landscape", "story"])
def test_each_format_is_a_jpeg_of_its_size(name: str) -> None:
    image = _open(render_card(FIELDS, templates_dir=TEMPLATES, format=name))
    assert image.format == "JPEG"
    assert image.size == SIZES[name]
    assert "exif" not in image.info and "icc_profile" not in image.info


@pytest.mark.parametrize(("encoding", "pillow_format", "extension"), [("webp", "WEBP", "webp"), ("png", "PNG", "png")])
def test_webp_and_png_are_configurable(tmp_path: Path, encoding: str, pillow_format: str, extension: str) -> None:
    templates = _kit_copy(tmp_path, brand={"cards": {"encoding": encoding, "formats": ["square"]}})
    kit = load_kit(templates)
    assert card_filename("sante", "square", kit) == f"cards/sante-square.{extension}"
    image = _open(render_card(FIELDS, templates_dir=templates))
    assert image.format == pillow_format and image.size == (1080, 1080)


def test_render_cards_gives_every_format_of_every_job_in_order() -> None:
    jobs = [CardJob(segment=s, theme=t, fields=FIELDS) for s in ("18-24-p01", "t-75056") for t in ("sante", "ecole")]
    cards = list(render_cards(jobs, templates_dir=TEMPLATES, workers=1))
    assert [(c.segment, c.theme, c.format) for c in cards] == [
        (j.segment, j.theme, f) for j in jobs for f in ("square", "landscape", "story")
    ]
    for card in cards:
        assert (card.width, card.height) == SIZES[card.format] == _open(card.data).size
        assert card.thumbnail_size[1] <= 100 and len(card.thumbnail) == card.thumbnail_size[0] * card.thumbnail_size[1] * 3
        # The page's inline preview comes with the card it shows: the square one, 1080 → 540 px.
        if card.format == "square":
            assert card.preview is not None and card.preview_size == (540, 540) == _open(card.preview).size
            assert len(card.preview) <= visuals.PREVIEW_MAX_BYTES and _open(card.preview).format == "JPEG"
        else:
            assert card.preview is None and card.preview_size is None


def test_preview_format_is_the_first_listed_format() -> None:
    assert visuals.preview_format(("story", "landscape", "square")) == "square"
    assert visuals.preview_format(("story", "landscape")) == "landscape"
    assert visuals.preview_format(("banner", "story")) == "story"
    assert visuals.preview_format(("wide", "banner")) == "banner"
    assert visuals.preview_format(()) is None


# --------------------------------------------------------------------------- text fitting


def _ink_outside_boxes(name: str, fields: dict[str, str]) -> int:
    """Pixels that differ from the static layers outside every text and QR box."""
    kit = load_kit(TEMPLATES)
    layout = kit.layouts[name]
    card = _open(render_card(fields, templates_dir=TEMPLATES, format=name)).convert("L")
    base = kit.base(name).convert("L")
    diff = ImageChops.difference(card, base).point(lambda v: 255 if v > 40 else 0)  # JPEG noise under 40
    for layer in layout.layers:
        if layer.type in {"text", "qr"}:
            left, top, right, bottom = layer.box
            # JPEG blocks bleed a few pixels around sharp text: allow one 8-pixel block.
            diff.paste(0, (max(0, left - 8), max(0, top - 8), right + 8, bottom + 8))
    return sum(diff.histogram()[1:])


@pytest.mark.parametrize("name", ["square", "landscape", "story"])
def test_long_french_text_stays_inside_its_boxes(name: str) -> None:
    long_fields = {
        **FIELDS,
        "headline": f"À {COMMUNE} comme à L’Haÿ-les-Roses, l'hôpital de proximité rouvrira : c'est promis",
        "body": "Œuvrer pour que chaque Français·e — à la ville, à la campagne, en outre-mer — trouve un médecin "
        "à moins de trente minutes, sans dépassement d'honoraires ni délai déraisonnable.",
    }
    assert _ink_outside_boxes(name, long_fields) == 0


def test_long_headline_wraps_at_hyphens_and_shrinks() -> None:
    kit = load_kit(TEMPLATES)
    layout = kit.layouts["square"]
    layer = next(layer for layer in layout.layers if layer.field == "headline")
    font = kit.brand.fonts[layer.font].path
    short = visuals._fit("Un médecin pour chacun", layer, font)
    long = visuals._fit(f"Un médecin pour chacun à {COMMUNE}, {COMMUNE} et alentours", layer, font)
    assert short.size == layer.size  # fits at full size, wrapped or not
    assert layer.min_size <= long.size < layer.size
    assert len(long.lines) > 1
    assert any(line.endswith("-") for line in long.lines), long.lines  # broken after a hyphen, not mid-word
    assert "".join(long.lines).replace(" ", "") == f"Unmédecinpourchacunà{COMMUNE},{COMMUNE}etalentours"


def test_punctuation_never_starts_a_line() -> None:
    kit = load_kit(TEMPLATES)
    layer = next(layer for layer in kit.layouts["square"].layers if layer.field == "body")
    font = kit.brand.fonts[layer.font].path
    text = visuals._normalise("Pourquoi pas ? Parce que « nous » le pouvons : ensemble ! " * 3, font)
    block = visuals._fit(text, layer, font)
    assert all(not line.startswith(("?", "!", ":", "»", ";")) for line in block.lines)
    assert "\u00a0?" in text and "\u00a0:" in text  # a no-break space glues « ? » to its word
    assert visuals._normalise("l'on", font) == "l’on"


def test_text_that_cannot_fit_names_segment_format_and_theme() -> None:
    fields = {**FIELDS, "headline": "Démocratie " * 80}
    with pytest.raises(TextFitError) as caught:
        list(render_cards([CardJob(segment="65plus-p03", theme="sante", fields=fields)], templates_dir=TEMPLATES, workers=1))
    message = str(caught.value)
    assert "segment 65plus-p03" in message and "format square" in message and "theme sante" in message
    assert "headline" in message and "min_size" in message


def test_unbreakable_word_wider_than_the_box_is_an_error_not_a_cut() -> None:
    fields = {**FIELDS, "cta": "Anticonstitutionnellement" * 3}
    with pytest.raises(TextFitError, match="cta"):
        render_card(fields, templates_dir=TEMPLATES)


def test_french_letters_and_punctuation_have_glyphs_in_every_brand_font() -> None:
    kit = load_kit(TEMPLATES)
    french = "àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ«»’–—…€°"
    for spec in kit.brand.fonts.values():
        missing = [c for c in french if not visuals._has_glyph(spec.path, c)]
        assert not missing, f"{spec.path.name} lacks {missing}"
    assert not visuals._has_glyph(kit.brand.fonts["body"].path, "\U0001f600")


def test_a_character_the_font_lacks_is_a_clear_error() -> None:
    with pytest.raises(TextFitError, match="U\\+1F600"):
        render_card({**FIELDS, "headline": "Un médecin pour chacun \U0001f600"}, templates_dir=TEMPLATES)


def test_legal_mention_is_required() -> None:
    with pytest.raises(CardError, match="legal.mention"):
        render_card({**FIELDS, "footer": " "}, templates_dir=TEMPLATES)


# --------------------------------------------------------------------------- contrast


def test_contrast_ratio_follows_wcag() -> None:
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    assert contrast_ratio((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio((0x77, 0x77, 0x77), (255, 255, 255)) < 4.5


def test_the_shipped_brand_passes_its_contrast_check() -> None:
    kit = load_kit(TEMPLATES)
    assert set(kit.layouts) == {"square", "landscape", "story"}


def test_body_text_below_4_5_to_1_is_a_clear_error(tmp_path: Path) -> None:
    templates = _kit_copy(tmp_path, brand={"colors": {"text": "#8A8A8A"}})  # 3.4:1 on white
    with pytest.raises(BrandError) as caught:
        load_kit(templates)
    message = str(caught.value)
    assert "contrast" in message and "4.5:1" in message and "'text'" in message
    assert "cards/square.yaml layers[" in message and "(body)" in message


def test_large_text_needs_3_to_1_and_small_text_4_5(tmp_path: Path) -> None:
    grey = "#858585"  # 3.7:1 on white: enough for large text only

    def large_headline(raw: dict[str, Any]) -> dict[str, Any]:
        raw["display_width"] = 1080  # shown at full size: a 44 px headline is large text
        for layer in raw["layers"]:
            if layer.get("field") == "headline":
                layer["color"] = "grey"
        return raw

    passes = _kit_copy(tmp_path / "a", brand={"colors": {"grey": grey}, "cards": {"formats": ["square"]}}, layouts={"square": large_headline})
    load_kit(passes)

    def small_headline(raw: dict[str, Any]) -> dict[str, Any]:
        raw = large_headline(raw)
        raw["display_width"] = 360  # on a phone the same headline is small text
        return raw

    fails = _kit_copy(tmp_path / "b", brand={"colors": {"grey": grey}, "cards": {"formats": ["square"]}}, layouts={"square": small_headline})
    with pytest.raises(BrandError, match="headline.*needs 4.5:1"):
        load_kit(fails)


def test_text_over_a_background_image_is_checked_pixel_by_pixel(tmp_path: Path) -> None:
    templates = _kit_copy(tmp_path, brand={"cards": {"formats": ["square"]}})
    photo = Image.linear_gradient("L").resize((1080, 1080)).convert("RGB")  # white to black, top to bottom
    photo.save(templates / "photo.png")

    def with_photo(raw: dict[str, Any]) -> dict[str, Any]:
        raw["layers"][0] = {"type": "background", "image": "photo.png"}
        return raw

    (templates / "cards" / "square.yaml").write_text(
        yaml.safe_dump(with_photo(yaml.safe_load((TEMPLATES / "cards" / "square.yaml").read_text(encoding="utf-8")))),
        encoding="utf-8",
    )
    with pytest.raises(BrandError, match="body"):
        load_kit(templates)


def test_qr_colours_are_checked(tmp_path: Path) -> None:
    templates = _kit_copy(tmp_path, brand={"colors": {"text": "#FFFFFF", "background": "#14213D"}, "cards": {"formats": ["square"]}})
    with pytest.raises(BrandError, match="QR code"):
        load_kit(templates)


# --------------------------------------------------------------------------- kit validation


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda raw: raw["layers"].append({"type": "text", "field": "body", "box": [60, 240, 500, 400], "font": "body", "size": 30, "min_size": 20, "color": "text"}), "overlap"),
        (lambda raw: raw["layers"].__setitem__(1, {**raw["layers"][1], "color": "magenta"}), "colour 'magenta'"),
        (lambda raw: raw["layers"].__setitem__(1, {**raw["layers"][1], "box": [0, 0, 1200, 140]}), "inside the 1080×1080 canvas"),
        (lambda raw: raw.__setitem__("layers", [layer for layer in raw["layers"] if layer.get("field") != "footer"]), "legal mention"),
        (lambda raw: raw["layers"].append({"type": "sticker"}), "'type' must be one of"),
    ],
)
def test_a_broken_layout_is_a_clear_error(tmp_path: Path, change: Any, expected: str) -> None:
    def apply(raw: dict[str, Any]) -> dict[str, Any]:
        change(raw)
        return raw

    templates = _kit_copy(tmp_path, brand={"cards": {"formats": ["square"]}}, layouts={"square": apply})
    with pytest.raises(BrandError, match=expected) as caught:
        load_kit(templates)
    assert "square.yaml" in str(caught.value)


def test_a_missing_font_is_a_clear_error(tmp_path: Path) -> None:
    templates = _kit_copy(tmp_path, brand={"fonts": {"body": {"file": "fonts/Arial.ttf", "weight": 400}}})
    with pytest.raises(BrandError, match="fonts.body.*Arial.ttf.*not found"):
        load_kit(templates)


# --------------------------------------------------------------------------- QR codes


@pytest.mark.parametrize("name", ["square", "landscape", "story"])
def test_qr_code_decodes_to_the_tracked_link(name: str) -> None:
    image = _open(render_card(FIELDS, templates_dir=TEMPLATES, format=name))
    found = [result.text for result in zxingcpp.read_barcodes(image) if result.format == zxingcpp.BarcodeFormat.QRCode]
    assert found == [LINK]
    assert "utm_medium=card" in LINK and "utm_content=65plus-p03" in LINK


def test_qr_modules_are_a_valid_symbol_with_one_of_the_eight_masks() -> None:
    import numpy as np
    import segno

    # Short to long links: QR versions 2 to 14, with and without version information.
    links = ["https://example.org/", LINK, *(f"{LINK}&ref={'x' * n}" for n in (40, 90, 160, 260))]
    sizes = set()
    for link in links:
        ours = qr_modules(link)
        sizes.add(ours.shape[0])
        candidates = [np.array(segno.make(link, error="m", micro=False, mask=k).matrix, dtype=np.uint8) == 1 for k in range(8)]
        assert any(np.array_equal(ours, c) for c in candidates), link
    assert min(sizes) < 45 <= max(sizes)  # version 7+ carries version information


def test_mask_penalty_agrees_with_segno_on_runs_blocks_and_balance() -> None:
    import numpy as np
    from segno import encoder

    rng = np.random.default_rng(7)
    for _ in range(20):
        size = 21 + 4 * int(rng.integers(0, 6))
        matrix = rng.random((size, size)) < rng.uniform(0.3, 0.7)
        n1, n2, n3, n4 = encoder.mask_scores([bytearray(row) for row in matrix.astype(np.uint8)], size, size)
        ours = int(visuals._penalties(matrix[None])[0])
        # N3 counts finder-like patterns touching the edge too (the quiet zone is light).
        assert ours - (n1 + n2 + n4) >= n3 and (ours - (n1 + n2 + n4)) % 40 == 0


# --------------------------------------------------------------------------- determinism, pool


def test_same_inputs_give_identical_bytes() -> None:
    jobs = [
        CardJob(segment=f"50-64-p0{i}", theme=theme, fields={**FIELDS, "headline": theme, "link": f"{LINK}{i}"})
        for i in range(2)
        for theme in ("sante", "ecole")
    ]
    first = [card.data for card in render_cards(jobs, templates_dir=TEMPLATES, workers=1)]
    visuals._PATCHES.clear()  # what a process has cached must not change a pixel
    visuals.qr_modules.cache_clear()
    second = [card.data for card in render_cards(jobs, templates_dir=TEMPLATES, workers=1)]
    assert first == second
    assert len(set(first)) == len(first)  # and different inputs give different cards


def test_worker_processes_render_the_same_bytes_as_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(visuals, "_MIN_CARDS_PER_WORKER", 1)
    jobs = [CardJob(segment=f"t-{code}", theme="sante", fields={**FIELDS, "link": f"{LINK}-{code}"}) for code in ("75056", "29019", "59350")]
    assert worker_count(len(jobs), 2) == 2
    pooled = [card.data for card in render_cards(jobs, templates_dir=TEMPLATES, workers=2, formats=("square",))]
    alone = [card.data for card in render_cards(jobs, templates_dir=TEMPLATES, workers=1, formats=("square",))]
    assert pooled == alone


def test_an_error_in_a_worker_reaches_the_caller_with_its_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(visuals, "_MIN_CARDS_PER_WORKER", 1)
    jobs = [
        CardJob(segment="18-24-p01", theme="sante", fields=FIELDS),
        CardJob(segment="18-24-p02", theme="climat", fields={**FIELDS, "body": "Trop long " * 300}),
    ]
    with pytest.raises(TextFitError, match="segment 18-24-p02, format square, theme climat"):
        list(render_cards(jobs, templates_dir=TEMPLATES, workers=2, formats=("square",)))


def test_worker_count_follows_cores_and_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATINALE_VISUALS_WORKERS", raising=False)
    assert worker_count(5, 8) == 1  # a few cards: cheaper in-process than spawning
    assert worker_count(10_000, 2) == 2
    monkeypatch.setenv("MATINALE_VISUALS_WORKERS", "3")
    assert worker_count(10_000) == 3


def test_duplicate_jobs_are_refused() -> None:
    job = CardJob(segment="18-24-p01", theme="sante", fields=FIELDS)
    with pytest.raises(CardError, match="share a segment and theme"):
        list(render_cards([job, job], templates_dir=TEMPLATES, workers=1))


# --------------------------------------------------------------------------- alt text, contact sheet


def test_alt_text_is_french_and_says_what_the_card_shows() -> None:
    alt = alt_text(FIELDS, format="story", campaign="Ensemble Demain")
    assert alt.startswith("Visuel vertical (format story) aux couleurs d’Ensemble Demain.")
    for part in (FIELDS["headline"], FIELDS["cta"], "code QR", "ensemble-demain.example.org/sante", "mention légale"):
        assert part in alt
    assert "utm_" not in alt
    assert alt_text(FIELDS, format="square", campaign="Camille Durand").startswith("Visuel carré aux couleurs de Camille Durand.")


def test_contact_sheet_pages_hold_every_strip() -> None:
    jobs = [CardJob(segment=f"s{i}", theme=t, fields=FIELDS) for i in range(3) for t in ("sante", "ecole")]
    cards = list(render_cards(jobs, templates_dir=TEMPLATES, workers=1))
    rows = [(f"Segment {i}\ns{i}", contact_strip([c for c in cards if c.segment == f"s{i}"])) for i in range(3)]
    strip = _open(rows[0][1])
    assert strip.height <= 100 and strip.width > 6 * 50  # 2 themes × 3 formats side by side
    one = contact_sheets(rows, title="Planche contact", templates_dir=TEMPLATES)
    two = contact_sheets(rows, title="Planche contact", templates_dir=TEMPLATES, rows_per_page=2)
    assert len(one) == 1 and len(two) == 2
    sheet = _open(one[0])
    assert sheet.format == "JPEG" and sheet.width >= strip.width and sheet.height >= 3 * strip.height
    with pytest.raises(CardError, match="no card strip"):
        contact_sheets([], title="x", templates_dir=TEMPLATES)


# --------------------------------------------------------------------------- the night's stage


def test_run_visuals_writes_cards_and_alt_texts_into_the_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matinale import night
    from matinale.settings import load_settings
    from matinale.store import LocalStore

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    settings = load_settings()
    brief = tmp_path / f"{EDITION}.yaml"
    raw = yaml.safe_load((TEMPLATES / "sample_brief.yaml").read_text(encoding="utf-8"))
    raw["edition"] = EDITION
    raw["themes"] = raw["themes"][:2]
    brief.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    store = LocalStore(tmp_path / "work")
    ctx = night.RunContext(edition=EDITION, run="20261124T000000Z-test", supporters_file="-", brief_file=str(brief))
    segments = [
        {"id": "65plus-p03", "kind": "main", "band": "65plus", "label": "65 ans et + · santé", "size": 120},
        {
            "id": "t-51518",
            "kind": "territory",
            "band": None,
            "label": f"{COMMUNE} · santé",
            "size": 60,
            "territory": {"level": "commune", "code": "51518", "name": COMMUNE},
        },
    ]
    store.put_json(f"{ctx.prefix}/segments.json", {"segments": segments, "report": {}})

    summary = night.run_visuals(settings, store, ctx, ["65plus-p03", "t-51518"])

    assert summary == {"segments": 2, "cards": 2 * 2 * 3}
    for segment in segments:
        cards = store.get_json(f"{ctx.bundle}/{segment['id']}/cards.json")
        assert cards["segment"] == segment["id"]
        assert {(c["theme"], c["format"]) for c in cards["cards"]} == {
            (t["id"], f) for t in raw["themes"] for f in ("square", "landscape", "story")
        }
        for card in cards["cards"]:
            assert card["file"] == f"cards/{card['theme']}-{card['format']}.jpg"
            image = _open(store.get_bytes(f"{ctx.bundle}/{segment['id']}/{card['file']}"))
            assert image.size == (card["width"], card["height"]) == SIZES[card["format"]]
            assert card["alt"].startswith("Visuel ") and "code QR" in card["alt"]
            assert f"utm_content={segment['id']}" in card["link"] and "utm_medium=card" in card["link"]
            if card["format"] == "square":
                assert [r.text for r in zxingcpp.read_barcodes(image)] == [card["link"]]
                preview = _open(store.get_bytes(f"{ctx.bundle}/{segment['id']}/previews/{card['theme']}-square.jpg"))
                assert preview.size == (540, 540)
        previews = sorted(p.rsplit("/", 1)[-1] for p in store.list(f"{ctx.bundle}/{segment['id']}/previews"))
        assert previews == sorted(f"{t['id']}-square.jpg" for t in raw["themes"])
    territory = store.get_json(f"{ctx.bundle}/t-51518/cards.json")["cards"][0]["alt"]
    assert f"« {COMMUNE} »" in territory  # the territorial pack names its commune
    framing = raw["framing"]["65plus"]
    assert framing in store.get_json(f"{ctx.bundle}/65plus-p03/cards.json")["cards"][0]["alt"]

    sheet = night.run_contact_sheet(settings, store, ctx)
    assert sheet == {"segments": 2, "pages": 1, "files": ["contact-sheet.jpg"]}
    assert _open(store.get_bytes(f"{ctx.bundle}/contact-sheet.jpg")).format == "JPEG"
    # A run whose visuals were skipped has no sheet, and that is no error.
    other = night.RunContext(edition=EDITION, run="20261124T010000Z-skip", supporters_file="-", brief_file=str(brief))
    store.put_json(f"{other.prefix}/segments.json", {"segments": segments, "report": {}})
    assert night.run_contact_sheet(settings, store, other) == {"segments": 0, "pages": 0, "files": []}
    # The bundle holds the cards, alt texts and contact sheet; thumbnails stay in the work store.
    assert not [k for k in store.list(ctx.bundle) if k.endswith(".png")]
    json.dumps(summary)  # a small XCom
