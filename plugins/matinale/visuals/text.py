"""Fonts and text: glyph checks, French typography, line breaking, fitting a text to its box.

Fonts are the files shipped with the project, read once per process and laid out with
Pillow's basic engine (no shaping library whose version differs between machines). Word
widths and glyph checks are cached per process, because headlines and messages repeat
across segments.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from matinale.visuals.errors import TextFitError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from PIL import Image, ImageFont

    from matinale.visuals.kit import CardKit, Layer


@cache
def _font_bytes(path: Path) -> bytes:
    """Each font file is read once per process."""
    return path.read_bytes()


@lru_cache(maxsize=512)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    # Basic layout, not raqm: identical glyph placement on every machine, and faster.
    return ImageFont.truetype(
        io.BytesIO(_font_bytes(path)), size, layout_engine=ImageFont.Layout.BASIC
    )


@lru_cache(maxsize=16)
def _notdef(path: Path) -> tuple[tuple[int, int], bytes]:
    """The "missing glyph" box of a font, to recognise characters it cannot draw."""
    return _glyph_signature(path, "\ue000")


def _glyph_signature(path: Path, char: str) -> tuple[tuple[int, int], bytes]:
    from PIL import Image

    mask = _font(path, 32).getmask(char)
    image = Image.new("L", mask.size)
    image.im = mask
    return mask.size, image.tobytes()


@lru_cache(maxsize=4096)
def _has_glyph(path: Path, char: str) -> bool:
    # Spaces too: a font without U+202F draws a box for it, not a narrow space.
    return _glyph_signature(path, char) != _notdef(path)


# French typography: no line may start with these; keep them with the word before.
_SPACE_BEFORE = re.compile(r"[ \u202f\u2009]+([:;!?»%€])")
_SPACE_AFTER = re.compile(r"([«])[ \u202f\u2009]+")
_SPACES = re.compile(r"[ \t\r\n]+")


def _normalise(text: str, font_path: Path) -> str:
    """French typography: collapse spaces, glue punctuation to its word, curly apostrophes.

    The no-break space before « : ; ! ? » keeps punctuation from starting a line; the
    narrow one is used when the font has it.
    """
    nbsp = "\u202f" if _has_glyph(font_path, "\u202f") else "\u00a0"
    text = _SPACES.sub(" ", text.replace("\u202f", nbsp).replace("\u00a0", nbsp)).strip()
    if _has_glyph(font_path, "\u2019"):
        text = text.replace("'", "\u2019")
    text = _SPACE_BEFORE.sub(nbsp + r"\1", text)
    return _SPACE_AFTER.sub(r"\1" + nbsp, text)


@lru_cache(maxsize=65536)
def _width(font: ImageFont.FreeTypeFont, text: str) -> float:
    """Advance width of a word: measured once, because Pillow loads every glyph on each call."""
    return font.getlength(text)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str] | None:
    """Greedy line breaking at spaces, and after hyphens for words too long for a line.

    Line widths are sums of word widths (kerning across a space is negligible; the ink
    check of ``_draw_block`` refuses any overflow anyway). Returns None when a piece that
    cannot be broken is wider than ``width``, or when more than ``max_lines`` are needed.
    """
    space = _width(font, " ")
    lines: list[str] = []
    current, current_width = "", 0.0
    for word in text.split(" "):
        word_width = _width(font, word)
        if not current:
            if word_width <= width:
                current, current_width = word, word_width
                continue
        elif current_width + space + word_width <= width:
            current, current_width = f"{current} {word}", current_width + space + word_width
            continue
        elif word_width <= width:
            lines.append(current)
            current, current_width = word, word_width
            if len(lines) >= max_lines:
                return None
            continue
        # A long compound (a commune such as Saint-Remy-en-Bouzemont-Saint-Genest-et-Isson)
        # breaks after its hyphens, as French typography allows.
        for index, part in enumerate(re.split(r"(?<=-)(?=.)", word)):
            part_width = _width(font, part)
            glue = space if index == 0 and current else 0.0
            if current_width + glue + part_width <= width:
                current = f"{current} {part}" if glue else f"{current}{part}"
                current_width += glue + part_width
            elif part_width <= width:
                if current:
                    lines.append(current)
                    if len(lines) >= max_lines:
                        return None
                current, current_width = part, part_width
            else:
                return None
    if current:
        lines.append(current)
    return lines if len(lines) <= max_lines else None


@dataclass(frozen=True)
class _Block:
    """A fitted, rendered text block: an alpha mask and where it goes on the card."""

    mask: Image.Image
    offset: tuple[int, int]
    size: int
    lines: tuple[str, ...]


def _draw_block(
    lines: list[str], font: ImageFont.FreeTypeFont, layer: Layer, line_height: int
) -> _Block | None:
    """Render ``lines`` in the layer's box; None if any ink would fall outside the box."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = layer.box
    width, height = right - left, bottom - top
    ascent, descent = font.getmetrics()
    block_height = (len(lines) - 1) * line_height + ascent + descent
    if block_height > height:
        return None
    y = {"top": 0, "middle": (height - block_height) // 2, "bottom": height - block_height}[
        layer.valign
    ]
    # Draw on a canvas with a margin, so ink that would cross the box edge is seen and refused.
    margin = layer.size
    canvas = Image.new("L", (width + 2 * margin, height + 2 * margin), 0)
    draw = ImageDraw.Draw(canvas)
    for index, line in enumerate(lines):
        x = 0 if layer.align == "left" else int((width - font.getlength(line)) // 2)
        draw.text(
            (margin + x, margin + y + index * line_height), line, font=font, fill=255, anchor="la"
        )
    ink = canvas.getbbox()
    if ink is None:
        return None
    if ink[0] < margin or ink[1] < margin or ink[2] > margin + width or ink[3] > margin + height:
        return None
    mask = canvas.crop(ink)
    return _Block(
        mask=mask,
        offset=(left + ink[0] - margin, top + ink[1] - margin),
        size=int(font.size),
        lines=tuple(lines),
    )


def _sizes(layer: Layer) -> list[int]:
    sizes = list(range(layer.size, layer.min_size, -2))
    return [*sizes, layer.min_size]


def missing_glyphs(text: str, font_path: Path) -> str:
    """The characters of ``text`` the font cannot draw, as ``'😀' (U+1F600), …``; "" if none.

    ``text`` is checked as a card draws it (French typography applied first), so the
    pre-flight and the visuals stage find the same characters.
    """
    return _missing(_normalise(text, font_path), font_path)


def _missing(text: str, font_path: Path) -> str:
    missing = sorted({c for c in text if not _has_glyph(font_path, c)})
    return ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)


def card_glyph_problems(kit: CardKit, texts: Mapping[str, Sequence[tuple[str, str]]]) -> list[str]:
    """``where: message`` for each text a card layer's font cannot draw.

    ``texts`` maps a card field (``headline``, ``body``…) to (where, text) pairs; each text
    is checked with the font of every layout's layer showing that field, once per font.
    """
    problems: dict[tuple[str, Path], str] = {}
    for layout in kit.layouts.values():
        for layer in layout.layers:
            if layer.type != "text" or layer.field not in texts:
                continue
            font_path = kit.brand.fonts[layer.font].path
            for where, text in texts[layer.field]:
                if (where, font_path) in problems:
                    continue
                shown = missing_glyphs(text, font_path)
                if shown:
                    problems[(where, font_path)] = (
                        f"{where}: the card font {font_path.name} has no glyph for {shown} "
                        "(emoji, direction marks…); remove these characters from the text"
                    )
    return list(problems.values())


def _fit(text: str, layer: Layer, font_path: Path) -> _Block:
    """The largest size (down to ``min_size``) at which ``text`` fits the layer's box, rendered."""
    shown = _missing(text, font_path)
    if shown:
        raise TextFitError(
            f"the font {font_path.name} has no glyph for {shown}: remove these characters from the text"
        )
    width, height = layer.box[2] - layer.box[0], layer.box[3] - layer.box[1]
    for size in _sizes(layer):
        font = _font(font_path, size)
        ascent, descent = font.getmetrics()
        line_height = max(1, round(size * layer.line_spacing))
        max_lines = 1 + max(-1, (height - ascent - descent) // line_height)
        lines = _wrap(text, font, width, max_lines) if max_lines > 0 else None
        if not lines:
            continue
        block = _draw_block(lines, font, layer, line_height)
        if block is not None:
            return block
    box = f"{width}×{layer.box[3] - layer.box[1]}"
    raise TextFitError(
        f"the {layer.field or 'logo'} ({len(text)} characters: {text[:50]!r}…) does not fit its {box} px box "
        f"even at {layer.min_size} px: shorten it in the brief, or enlarge the box or lower min_size in the layout"
    )
