"""Drawing one card: sizes and encodings, the inline preview, the legal mention, determinism."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import ImageOps
from visuals_samples import (
    FIELDS,
    LINK,
    SIZES,
    TEMPLATES,
    kit_copy,
    open_image,
)

from matinale.visuals import (
    CardError,
    CardJob,
    card_filename,
    load_kit,
    preview_format,
    qr_modules,
    render_card,
    render_cards,
)
from matinale.visuals.draw import _PATCHES, _canvas, _drawn, _paste_layers
from matinale.visuals.kit import CardKit


@pytest.mark.parametrize("name", ["square", "landscape", "story"])
def test_each_format_is_a_jpeg_of_its_size(name: str) -> None:
    image = open_image(render_card(FIELDS, templates_dir=TEMPLATES, format=name))
    assert image.format == "JPEG"
    assert image.size == SIZES[name]
    assert "exif" not in image.info and "icc_profile" not in image.info


@pytest.mark.parametrize(
    ("encoding", "pillow_format", "extension"), [("webp", "WEBP", "webp"), ("png", "PNG", "png")]
)
def test_webp_and_png_are_configurable(
    tmp_path: Path, encoding: str, pillow_format: str, extension: str
) -> None:
    templates = kit_copy(tmp_path, brand={"cards": {"encoding": encoding, "formats": ["square"]}})
    kit = load_kit(templates)
    assert card_filename("sante", "square", kit) == f"cards/sante-square.{extension}"
    image = open_image(render_card(FIELDS, templates_dir=templates))
    assert image.format == pillow_format and image.size == (1080, 1080)


def test_preview_format_is_the_first_listed_format() -> None:
    assert preview_format(("story", "landscape", "square")) == "square"
    assert preview_format(("story", "landscape")) == "landscape"
    assert preview_format(("banner", "story")) == "story"
    assert preview_format(("wide", "banner")) == "banner"
    assert preview_format(()) is None


def test_legal_mention_is_required() -> None:
    with pytest.raises(CardError, match="legal.mention"):
        render_card({**FIELDS, "footer": " "}, templates_dir=TEMPLATES)


def test_the_print_mention_is_on_print_formats_only(tmp_path: Path) -> None:
    """'Ne pas jeter sur la voie publique' is for paper: the shipped formats are digital and
    never show it; a layout with print: true adds it to its footer."""
    fields = {**FIELDS, "print_mention": "Ne pas jeter sur la voie publique."}
    assert not any(layout.print for layout in load_kit(TEMPLATES).layouts.values())
    assert render_card(fields, templates_dir=TEMPLATES) == render_card(
        FIELDS, templates_dir=TEMPLATES
    )
    paper = kit_copy(tmp_path, layouts={"square": lambda raw: {**raw, "print": True}})
    assert load_kit(paper).layouts["square"].print
    assert render_card(fields, templates_dir=paper) != render_card(FIELDS, templates_dir=paper)


def test_same_inputs_give_identical_bytes() -> None:
    jobs = [
        CardJob(
            segment=f"50-64-p0{i}",
            theme=theme,
            fields={**FIELDS, "headline": theme, "link": f"{LINK}{i}"},
        )
        for i in range(2)
        for theme in ("sante", "ecole")
    ]
    first = [card.data for card in render_cards(jobs, templates_dir=TEMPLATES, workers=1)]
    _PATCHES.clear()  # what a process has cached must not change a pixel
    qr_modules.cache_clear()
    second = [card.data for card in render_cards(jobs, templates_dir=TEMPLATES, workers=1)]
    assert first == second
    assert len(set(first)) == len(first)  # and different inputs give different cards


def _fresh(kit: Any, name: str, fields: dict[str, str]) -> bytes:
    # The reference: every card on a copy of its layout's base, as before the shared canvas.
    image = kit.base(name).copy()
    _paste_layers(kit, kit.layouts[name], fields, image, [])
    return image.tobytes()


def test_cards_drawn_on_the_shared_canvas_are_pixel_for_pixel_fresh_copies() -> None:
    kit = load_kit(TEMPLATES)
    # Long texts, then short ones and a card without a link: the boxes a card pasted must be
    # put back, or its text and QR code would show through the next card's.
    cards = [
        FIELDS,
        {**FIELDS, "headline": "Un médecin", "body": "Près de chez vous.", "tagline": ""},
        {**FIELDS, "link": "", "cta": "Votez"},
        {**FIELDS, "link": f"{LINK}-autre", "headline": "La santé d'abord, partout"},
    ]
    for name in kit.formats:
        for fields in cards:
            with _drawn(kit, kit.layouts[name], fields) as image:
                assert image.tobytes() == _fresh(kit, name, fields)
        assert _canvas(kit.base(name))[0].tobytes() == kit.base(name).tobytes()


def test_a_card_that_fails_midway_leaves_the_canvas_clean() -> None:
    kit = load_kit(TEMPLATES)
    layout = kit.layouts["square"]
    # Texts are pasted layer by layer; the empty legal mention fails after some are on.
    with (
        pytest.raises(CardError, match="legal mention"),
        _drawn(kit, layout, {**FIELDS, "footer": " "}),
    ):
        pass
    assert _canvas(kit.base("square"))[0].tobytes() == kit.base("square").tobytes()
    with _drawn(kit, layout, FIELDS) as image:
        assert image.tobytes() == _fresh(kit, "square", FIELDS)


def test_a_card_drawn_while_another_is_on_the_canvas_gets_an_image_of_its_own() -> None:
    kit = load_kit(TEMPLATES)
    layout = kit.layouts["square"]
    other = {**FIELDS, "headline": "La santé d'abord, partout", "link": f"{LINK}-autre"}
    with _drawn(kit, layout, FIELDS) as outer:
        with _drawn(kit, layout, other) as inner:
            assert inner is not outer and inner.tobytes() == _fresh(kit, "square", other)
        assert outer.tobytes() == _fresh(kit, "square", FIELDS)
    assert _canvas(kit.base("square"))[0].tobytes() == kit.base("square").tobytes()


def test_kits_of_the_same_files_but_other_bases_draw_on_their_own_canvases() -> None:
    # The digest covers brand.yaml and the layouts, not the logo file: two kits may share it
    # and still differ in their static pixels.
    kit = load_kit(TEMPLATES)
    other = CardKit(
        templates_dir=kit.templates_dir, brand=kit.brand, layouts=kit.layouts, digest=kit.digest
    )
    other._bases["square"] = ImageOps.invert(kit.base("square"))
    for drawing in (kit, other, kit):
        with _drawn(drawing, drawing.layouts["square"], FIELDS) as image:
            assert image.tobytes() == _fresh(drawing, "square", FIELDS)
