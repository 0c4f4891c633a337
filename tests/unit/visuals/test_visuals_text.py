"""Fonts and text: fitting, wrapping at hyphens, French punctuation, glyph checks."""

from __future__ import annotations

import pytest
from PIL import ImageChops
from visuals_samples import (
    COMMUNE,
    FIELDS,
    TEMPLATES,
    open_image,
)

from matinale.visuals import (
    CardJob,
    TextFitError,
    load_kit,
    render_card,
    render_cards,
)
from matinale.visuals.text import _fit, _has_glyph, _normalise


def _ink_outside_boxes(name: str, fields: dict[str, str]) -> int:
    """Pixels that differ from the static layers outside every text and QR box."""
    kit = load_kit(TEMPLATES)
    layout = kit.layouts[name]
    card = open_image(render_card(fields, templates_dir=TEMPLATES, format=name)).convert("L")
    base = kit.base(name).convert("L")
    diff = ImageChops.difference(card, base).point(
        lambda v: 255 if v > 40 else 0
    )  # JPEG noise under 40
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
    short = _fit("Un médecin pour chacun", layer, font)
    long = _fit(f"Un médecin pour chacun à {COMMUNE}, {COMMUNE} et alentours", layer, font)
    assert short.size == layer.size  # fits at full size, wrapped or not
    assert layer.min_size <= long.size < layer.size
    assert len(long.lines) > 1
    assert any(line.endswith("-") for line in long.lines), (
        long.lines
    )  # broken after a hyphen, not mid-word
    assert (
        "".join(long.lines).replace(" ", "")
        == f"Unmédecinpourchacunà{COMMUNE},{COMMUNE}etalentours"
    )


def test_punctuation_never_starts_a_line() -> None:
    kit = load_kit(TEMPLATES)
    layer = next(layer for layer in kit.layouts["square"].layers if layer.field == "body")
    font = kit.brand.fonts[layer.font].path
    text = _normalise("Pourquoi pas ? Parce que « nous » le pouvons : ensemble ! " * 3, font)
    block = _fit(text, layer, font)
    assert all(not line.startswith(("?", "!", ":", "»", ";")) for line in block.lines)
    assert "\u00a0?" in text and "\u00a0:" in text  # a no-break space glues « ? » to its word
    assert _normalise("l'on", font) == "l’on"


def test_text_that_cannot_fit_names_segment_format_and_theme() -> None:
    fields = {**FIELDS, "headline": "Démocratie " * 80}
    with pytest.raises(TextFitError) as caught:
        list(
            render_cards(
                [CardJob(segment="65plus-p03", theme="sante", fields=fields)],
                templates_dir=TEMPLATES,
                workers=1,
            )
        )
    message = str(caught.value)
    assert (
        "segment 65plus-p03" in message and "format square" in message and "theme sante" in message
    )
    assert "headline" in message and "min_size" in message


def test_unbreakable_word_wider_than_the_box_is_an_error_not_a_cut() -> None:
    fields = {**FIELDS, "cta": "Anticonstitutionnellement" * 3}
    with pytest.raises(TextFitError, match="cta"):
        render_card(fields, templates_dir=TEMPLATES)


def test_french_letters_and_punctuation_have_glyphs_in_every_brand_font() -> None:
    kit = load_kit(TEMPLATES)
    french = "àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ«»’–—…€°"
    for spec in kit.brand.fonts.values():
        missing = [c for c in french if not _has_glyph(spec.path, c)]
        assert not missing, f"{spec.path.name} lacks {missing}"
    assert not _has_glyph(kit.brand.fonts["body"].path, "\U0001f600")


def test_a_character_the_font_lacks_is_a_clear_error() -> None:
    with pytest.raises(TextFitError, match="U\\+1F600"):
        render_card(
            {**FIELDS, "headline": "Un médecin pour chacun \U0001f600"}, templates_dir=TEMPLATES
        )
