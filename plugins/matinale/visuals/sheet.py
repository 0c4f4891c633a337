"""Staff's contact sheet: every card of the night, small, one labelled strip per segment."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from matinale.visuals.errors import CardError
from matinale.visuals.kit import load_kit
from matinale.visuals.text import _font, _wrap

if TYPE_CHECKING:
    from PIL import Image

    from matinale.visuals.draw import RenderedCard

__all__ = ["contact_sheets", "contact_strip"]


def contact_strip(cards: Sequence[RenderedCard]) -> bytes:
    """One segment's thumbnails side by side (PNG), grouped by theme: a row of the sheet."""
    from PIL import Image

    if not cards:
        raise CardError("a contact strip needs at least one card")
    gap, theme_gap = 6, 24
    width, previous = 0, None
    positions = []
    for card in cards:
        if previous is not None:
            width += theme_gap if card.theme != previous else gap
        positions.append(width)
        width += card.thumbnail_size[0]
        previous = card.theme
    height = max(card.thumbnail_size[1] for card in cards)
    strip = Image.new("RGB", (width, height), (255, 255, 255))
    for card, left in zip(cards, positions, strict=True):
        strip.paste(Image.frombytes("RGB", card.thumbnail_size, card.thumbnail), (left, 0))
    out = io.BytesIO()
    strip.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def contact_sheets(
    rows: Sequence[tuple[str, bytes]],
    *,
    title: str,
    templates_dir: Path,
    rows_per_page: int = 60,
    quality: int = 80,
) -> list[bytes]:
    """Staff's contact sheets (JPEG): a title, then one labelled strip per segment.

    Long nights are split into pages of ``rows_per_page`` segments so that each image stays
    small enough to open on a laptop.
    """
    from PIL import Image, ImageDraw

    if not rows:
        raise CardError("no card strip to put on the contact sheet: did the visuals tasks run?")
    kit = load_kit(templates_dir)
    bold = kit.brand.fonts.get("strong", next(iter(kit.brand.fonts.values()))).path
    regular = kit.brand.fonts.get("body", next(iter(kit.brand.fonts.values()))).path
    label_width, margin, row_gap, header = 300, 24, 14, 80
    strips: list[tuple[str, Image.Image]] = []
    for label, data in rows:
        with Image.open(io.BytesIO(data)) as opened:
            strips.append((label, opened.convert("RGB")))
    pages = [strips[i : i + rows_per_page] for i in range(0, len(strips), rows_per_page)]
    ink = kit.brand.colors.get("text", (0, 0, 0))
    out = []
    for number, page in enumerate(pages, start=1):
        width = margin * 2 + label_width + max(strip.width for _, strip in page)
        height = header + sum(strip.height + row_gap for _, strip in page) + margin
        sheet = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        heading = title if len(pages) == 1 else f"{title} — page {number}/{len(pages)}"
        draw.text((margin, margin), heading, font=_font(bold, 28), fill=ink, anchor="la")
        top = header
        for label, strip in page:
            lines = [
                part
                for given in label.split("\n")
                for part in (_wrap(given, _font(regular, 18), label_width - 16, 4) or [given])
            ]
            for index, line in enumerate(lines[:4]):
                draw.text(
                    (margin, top + index * 22), line, font=_font(regular, 18), fill=ink, anchor="la"
                )
            sheet.paste(strip, (margin + label_width, top))
            top += strip.height + row_gap
        buffer = io.BytesIO()
        sheet.save(buffer, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False)
        out.append(buffer.getvalue())
    return out
