"""Visual cards: one image per segment × theme × format, drawn with Pillow from data.

Layouts are data (``content_templates/cards/<format>.yaml``: a list of layers drawn in
order) and the brand kit is data (``content_templates/brand.yaml``: colours, fonts shipped
under ``content_templates/fonts/`` with their licence, logo, output encoding). This module
turns both into a checked :class:`CardKit` once, then renders cards fast:

- static layers (background, bands, logo) are pre-rendered once per layout and brand and
  copied for every card;
- fonts are read once per process; a text block (wrapped and fitted) is rendered once per
  process and reused as a mask, because headlines and messages repeat across segments;
- cards are rendered on all the task's cores by a process pool (``render_cards``).

The same inputs give byte-identical files: fonts shipped with the project (never a system
font lookup), Pillow's basic text layout (no shaping library whose version differs between
machines), fixed encoder settings and no metadata, timestamps or random state.

Accessibility is checked before anything is drawn: every text layer must reach the WCAG 2.1
contrast ratio against what lies under it (4.5:1, or 3:1 for large text), and every card
gets a French alt text (:func:`alt_text`).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image, ImageFont

__all__ = [
    "ENCODINGS",
    "FIELDS",
    "FORMAT_LABELS",
    "FORMAT_ORDER",
    "PREVIEW_MAX_BYTES",
    "PREVIEW_MAX_SIDE",
    "BrandError",
    "BrandKit",
    "CardError",
    "CardJob",
    "CardKit",
    "Layer",
    "Layout",
    "RenderedCard",
    "TextFitError",
    "alt_text",
    "card_filename",
    "contact_sheets",
    "contact_strip",
    "contrast_ratio",
    "load_kit",
    "preview_format",
    "preview_jpeg",
    "qr_modules",
    "relative_luminance",
    "render_card",
    "render_cards",
    "worker_count",
]

#: The card fields a layout may place; ``link`` is drawn as a QR code, the rest as text.
FIELDS: tuple[str, ...] = ("headline", "body", "tagline", "cta", "link", "footer")
#: Output encodings: name → (file extension, content type, Pillow format).
ENCODINGS: dict[str, tuple[str, str, str]] = {
    "jpeg": ("jpg", "image/jpeg", "JPEG"),
    "webp": ("webp", "image/webp", "WEBP"),
    "png": ("png", "image/png", "PNG"),
}
#: How alt texts name each format, in French.
FORMAT_LABELS: dict[str, str] = {"square": "carré", "landscape": "paysage", "story": "vertical (format story)"}
#: The order formats are listed in a theme's downloads; the first one present is the preview.
FORMAT_ORDER: tuple[str, ...] = ("square", "landscape", "story")
#: The inline preview of a theme on the activists' page: at most this wide/high and heavy.
PREVIEW_MAX_SIDE = 720
PREVIEW_MAX_BYTES = 150_000

_LAYER_TYPES = ("background", "band", "logo", "text", "qr")
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# WCAG 2.1 thresholds (success criterion 1.4.3) and its definition of large text, in CSS px.
_AA_NORMAL = 4.5
_AA_LARGE = 3.0
_LARGE_PX = 24.0
_LARGE_BOLD_PX = 18.66
# 1:1:3:1:1 finder-like pattern then 4 light modules, and its mirror, as 11-bit numbers
# (bit k = module k of the window).
_FINDER_AFTER = sum(bit << k for k, bit in enumerate((1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0)))
_FINDER_BEFORE = sum(bit << k for k, bit in enumerate((0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1)))
_QR_QUIET_ZONE = 4  # modules of light margin the QR specification asks for
_THUMB_HEIGHT = 96  # contact-sheet thumbnails, in pixels
# Spawning a worker costs about as much as rendering this many cards in-process.
_MIN_CARDS_PER_WORKER = 48


class CardError(RuntimeError):
    """A card cannot be drawn: the message names segment, format and theme, and what to do."""


class BrandError(CardError):
    """``brand.yaml`` or a card layout is unusable (missing font, unknown colour, poor contrast…)."""


class TextFitError(CardError):
    """A text does not fit its box even at the layout's minimum size."""


# --------------------------------------------------------------------------- the kit


@dataclass(frozen=True)
class FontSpec:
    """A font file shipped with the project and its weight (400 regular, 700 bold…)."""

    path: Path
    weight: int


@dataclass(frozen=True)
class BrandKit:
    """The campaign's look: named colours, named fonts, logo, output encoding."""

    colors: Mapping[str, tuple[int, int, int]]
    fonts: Mapping[str, FontSpec]
    logo_text: str
    logo_image: Path | None
    formats: tuple[str, ...]
    encoding: str
    quality: int


@dataclass(frozen=True)
class Layer:
    """One layer of a layout; which attributes matter depends on ``type``."""

    type: str
    box: tuple[int, int, int, int]
    color: str = ""
    field: str = ""
    font: str = ""
    size: int = 0
    min_size: int = 0
    line_spacing: float = 1.15
    align: str = "left"
    valign: str = "top"
    radius: int = 0
    image: str = ""
    background: str = ""


@dataclass(frozen=True)
class Layout:
    """A card format: canvas size, the width at which pages show it, layers in drawing order."""

    name: str
    size: tuple[int, int]
    display_width: int
    layers: tuple[Layer, ...]

    @property
    def scale(self) -> float:
        """CSS px per card px when a page shows the card at ``display_width``."""
        return self.display_width / self.size[0]


@dataclass
class CardKit:
    """A checked brand kit with its layouts: everything needed to draw cards."""

    templates_dir: Path
    brand: BrandKit
    layouts: Mapping[str, Layout]
    digest: str
    _bases: dict[str, Image.Image] = field(default_factory=dict, repr=False)

    @property
    def formats(self) -> tuple[str, ...]:
        return self.brand.formats

    @property
    def extension(self) -> str:
        return ENCODINGS[self.brand.encoding][0]

    @property
    def content_type(self) -> str:
        return ENCODINGS[self.brand.encoding][1]

    def base(self, name: str) -> Image.Image:
        """The layout's static layers, drawn once per process (or handed over by the parent)."""
        if name not in self._bases:
            self._bases[name] = _draw_static(self, self.layouts[name])
        return self._bases[name]


def _brand_error(path: Path, message: str) -> BrandError:
    return BrandError(f"{path}: {message}")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _brand_error(path, "file not found") from exc
    except yaml.YAMLError as exc:
        raise _brand_error(path, f"not valid YAML: {exc}") from exc


def _hex_rgb(value: Any, path: Path, where: str) -> tuple[int, int, int]:
    text = str(value)
    if not _HEX.match(text):
        raise _brand_error(path, f"{where} = {text!r} must be a hex colour such as \"#1B3A6B\"")
    digits = text[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def _load_brand(templates_dir: Path) -> BrandKit:
    path = templates_dir / "brand.yaml"
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise _brand_error(path, "must be a mapping with colors, fonts, logo and cards")
    colors_raw = raw.get("colors")
    if not isinstance(colors_raw, dict) or not colors_raw:
        raise _brand_error(path, "'colors' must map colour names to hex values")
    colors = {str(name): _hex_rgb(value, path, f"colors.{name}") for name, value in colors_raw.items()}

    fonts_raw = raw.get("fonts")
    if not isinstance(fonts_raw, dict) or not fonts_raw:
        raise _brand_error(path, "'fonts' must map font roles to {file, weight}")
    fonts = {}
    for role, spec in fonts_raw.items():
        spec = spec if isinstance(spec, dict) else {"file": spec}
        file = templates_dir / str(spec.get("file", ""))
        if not spec.get("file") or not file.is_file():
            raise _brand_error(
                path,
                f"fonts.{role}: font file {spec.get('file')!r} not found under {templates_dir}; ship the font "
                "(with its licence) in content_templates/fonts/: system fonts differ between machines",
            )
        try:
            weight = int(spec.get("weight", 400))
        except (TypeError, ValueError) as exc:
            raise _brand_error(path, f"fonts.{role}.weight must be a number such as 400 or 700") from exc
        fonts[str(role)] = FontSpec(path=file, weight=weight)

    logo = raw.get("logo") or {}
    if not isinstance(logo, dict) or not (logo.get("text") or logo.get("image")):
        raise _brand_error(path, "'logo' needs 'text' (drawn with a brand font) or 'image' (a PNG under content_templates/)")
    logo_image = None
    if logo.get("image"):
        logo_image = templates_dir / str(logo["image"])
        if not logo_image.is_file():
            raise _brand_error(path, f"logo.image {logo['image']!r} not found under {templates_dir}")

    cards = raw.get("cards") or {}
    if not isinstance(cards, dict):
        raise _brand_error(path, "'cards' must be a mapping (formats, encoding, quality)")
    formats = tuple(str(f) for f in cards.get("formats") or ("square", "landscape", "story"))
    encoding = str(cards.get("encoding", "jpeg")).lower()
    if encoding not in ENCODINGS:
        raise _brand_error(path, f"cards.encoding = {encoding!r}: use one of {sorted(ENCODINGS)}")
    quality = int(cards.get("quality", 90))
    if not 1 <= quality <= 100:
        raise _brand_error(path, f"cards.quality = {quality}: use 1..100 (90 is a good default)")
    return BrandKit(
        colors=colors,
        fonts=fonts,
        logo_text=str(logo.get("text") or ""),
        logo_image=logo_image,
        formats=formats,
        encoding=encoding,
        quality=quality,
    )


def _box(value: Any, path: Path, where: str, size: tuple[int, int]) -> tuple[int, int, int, int]:
    if not (isinstance(value, list | tuple) and len(value) == 4 and all(isinstance(v, int) for v in value)):
        raise _brand_error(path, f"{where}.box must be [left, top, right, bottom] in pixels")
    left, top, right, bottom = value
    if not (0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]):
        raise _brand_error(path, f"{where}.box {list(value)} must lie inside the {size[0]}×{size[1]} canvas")
    return (left, top, right, bottom)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _load_layout(templates_dir: Path, name: str, brand: BrandKit) -> Layout:
    path = templates_dir / "cards" / f"{name}.yaml"
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("layers"), list):
        raise _brand_error(path, "a layout needs 'size: [width, height]' and a list of 'layers'")
    size_raw = raw.get("size")
    if not (isinstance(size_raw, list) and len(size_raw) == 2 and all(isinstance(v, int) and v > 0 for v in size_raw)):
        raise _brand_error(path, "'size' must be [width, height] in pixels")
    size = (size_raw[0], size_raw[1])
    display_width = int(raw.get("display_width", 360))
    layers = []
    for index, item in enumerate(raw["layers"]):
        where = f"layers[{index}]"
        if not isinstance(item, dict) or item.get("type") not in _LAYER_TYPES:
            raise _brand_error(path, f"{where}: 'type' must be one of {list(_LAYER_TYPES)}")
        kind = item["type"]
        box = (0, 0, *size) if kind == "background" else _box(item.get("box"), path, where, size)
        known = {f for f in Layer.__dataclass_fields__}
        unknown = sorted(set(item) - known)
        if unknown:
            raise _brand_error(path, f"{where}: unknown key(s) {unknown}")
        try:
            numbers = {key: int(item[key]) for key in ("size", "min_size", "radius") if key in item}
            if "line_spacing" in item:
                numbers["line_spacing"] = float(item["line_spacing"])  # type: ignore[assignment]
        except (TypeError, ValueError) as exc:
            raise _brand_error(path, f"{where}: size, min_size and radius are pixels, line_spacing a number") from exc
        layer = Layer(**{**item, **numbers, "box": box})
        for colour in (layer.color, layer.background):
            if colour and colour not in brand.colors:
                raise _brand_error(path, f"{where}: colour {colour!r} is not in brand.yaml colors {sorted(brand.colors)}")
        if kind in {"text", "qr"} and layer.field not in FIELDS:
            raise _brand_error(path, f"{where}: field {layer.field!r} must be one of {list(FIELDS)}")
        if kind == "qr" and layer.field != "link":
            raise _brand_error(path, f"{where}: a qr layer draws the 'link' field")
        if kind == "text" and layer.field == "link":
            raise _brand_error(path, f"{where}: the link is drawn as a qr layer, not as text")
        if kind in {"text", "logo"}:
            if layer.font not in brand.fonts:
                raise _brand_error(path, f"{where}: font {layer.font!r} is not in brand.yaml fonts {sorted(brand.fonts)}")
            if not 0 < layer.min_size <= layer.size:
                raise _brand_error(path, f"{where}: needs size and min_size with 0 < min_size <= size")
            if not layer.color:
                raise _brand_error(path, f"{where}: needs a text colour")
            if layer.align not in {"left", "center"} or layer.valign not in {"top", "middle", "bottom"}:
                raise _brand_error(path, f"{where}: align is left|center, valign is top|middle|bottom")
        if kind == "qr" and not (layer.color and layer.background):
            raise _brand_error(path, f"{where}: a qr layer needs color (dark modules) and background (light modules)")
        if kind == "background" and bool(layer.color) == bool(layer.image):
            raise _brand_error(path, f"{where}: a background has either a color or an image")
        if kind == "band" and not layer.color:
            raise _brand_error(path, f"{where}: a band needs a color")
        if kind == "background" and layer.image and not (templates_dir / layer.image).is_file():
            raise _brand_error(path, f"{where}: background image {layer.image!r} not found under {templates_dir}")
        layers.append(layer)
    dynamic = [(i, layer) for i, layer in enumerate(layers) if layer.type in {"text", "qr", "logo"}]
    for position, (i, a) in enumerate(dynamic):
        for j, b in dynamic[position + 1 :]:
            if _overlap(a.box, b.box):
                raise _brand_error(path, f"layers[{i}] and layers[{j}] overlap: text or QR code would be drawn over each other")
    if not any(layer.type == "text" and layer.field == "footer" for layer in layers):
        raise _brand_error(path, "the legal mention is printed on every card: add a text layer with field: footer")
    return Layout(name=name, size=size, display_width=display_width, layers=tuple(layers))


def _kit_digest(templates_dir: Path) -> str:
    """Content hash of brand.yaml and the layouts: a changed file means a new kit."""
    digest = hashlib.sha256()
    for path in [templates_dir / "brand.yaml", *sorted((templates_dir / "cards").glob("*.yaml"))]:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def load_kit(templates_dir: Path) -> CardKit:
    """The checked brand kit and layouts under ``templates_dir``.

    Raises :class:`BrandError` when a file is wrong or a text layer fails the WCAG contrast
    check. Cached per process and per content of the files, so an edited kit is reloaded.
    """
    templates_dir = Path(templates_dir).resolve()
    return _load_kit(templates_dir, _kit_digest(templates_dir))


@cache
def _load_kit(templates_dir: Path, digest: str) -> CardKit:
    brand = _load_brand(templates_dir)
    layouts = {}
    for name in brand.formats:
        if not (templates_dir / "cards" / f"{name}.yaml").is_file():
            raise BrandError(
                f"{templates_dir / 'brand.yaml'}: cards.formats lists {name!r} but content_templates/cards/{name}.yaml is missing"
            )
        layouts[name] = _load_layout(templates_dir, name, brand)
    kit = CardKit(templates_dir=templates_dir, brand=brand, layouts=layouts, digest=digest)
    _check_contrast(kit)
    return kit


# --------------------------------------------------------------------------- contrast


def _linear(value: int) -> float:
    """An sRGB channel (0–255) made linear, as WCAG 2.1 defines it."""
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


@cache
def _linear_table() -> np.ndarray:
    """The 256 linear channel values, to convert whole images at once."""
    import numpy as np

    return np.array([_linear(v) for v in range(256)])


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour."""
    return 0.2126 * _linear(rgb[0]) + 0.7152 * _linear(rgb[1]) + 0.0722 * _linear(rgb[2])


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2.1 contrast ratio, from 1 (same) to 21 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def _worst_contrast(region: Image.Image, rgb: tuple[int, int, int]) -> tuple[float, tuple[int, int, int]]:
    """Lowest contrast of ``rgb`` against any pixel of ``region`` (flat bands or an image)."""
    import numpy as np

    region = region.convert("RGB")
    colours = region.getcolors(maxcolors=4096)
    if colours is not None:  # flat grounds: a handful of colours
        flat = [(int(c[0]), int(c[1]), int(c[2])) for _, c in colours]  # type: ignore[index]
        return min((contrast_ratio(rgb, colour), colour) for colour in flat)
    pixels = np.asarray(region).reshape(-1, 3)
    lum = _linear_table()[pixels] @ np.array([0.2126, 0.7152, 0.0722])
    text = relative_luminance(rgb)
    ratios = (np.maximum(lum, text) + 0.05) / (np.minimum(lum, text) + 0.05)
    worst = int(np.argmin(ratios))
    return float(ratios[worst]), (int(pixels[worst][0]), int(pixels[worst][1]), int(pixels[worst][2]))


def _is_large(layer: Layer, layout: Layout, weight: int) -> bool:
    """WCAG large text, judged at the smallest size the text may shrink to, as pages show it."""
    css_px = layer.min_size * layout.scale
    return css_px >= _LARGE_PX or (weight >= 700 and css_px >= _LARGE_BOLD_PX)


def _check_contrast(kit: CardKit) -> None:
    problems = []
    for layout in kit.layouts.values():
        kit.base(layout.name)  # draws the logo: a logo text that cannot fit fails here
        ground = _draw_static(kit, layout, logo=False)
        for index, layer in enumerate(layout.layers):
            if layer.type == "text" or (layer.type == "logo" and kit.brand.logo_image is None):
                weight = kit.brand.fonts[layer.font].weight
                needed = _AA_LARGE if _is_large(layer, layout, weight) else _AA_NORMAL
                ratio, under = _worst_contrast(ground.crop(layer.box), kit.brand.colors[layer.color])
                what = layer.field or "logo"
            elif layer.type == "qr":
                # Scanners need dark modules on a light ground; WCAG's 4.5:1 is a sound floor.
                needed = _AA_NORMAL
                dark, light = kit.brand.colors[layer.color], kit.brand.colors[layer.background]
                ratio, under = contrast_ratio(dark, light), light
                what = "QR code"
                if relative_luminance(dark) > relative_luminance(light):
                    problems.append(f"cards/{layout.name}.yaml layers[{index}] (QR code): modules must be darker than their background")
            else:
                continue
            if ratio < needed:
                problems.append(
                    f"cards/{layout.name}.yaml layers[{index}] ({what}): colour {layer.color!r} on "
                    f"#{under[0]:02X}{under[1]:02X}{under[2]:02X} has contrast {ratio:.2f}:1, "
                    f"WCAG 2.1 AA needs {needed}:1"
                )
    if problems:
        raise BrandError(
            f"{kit.templates_dir / 'brand.yaml'}: the brand kit fails the contrast check; change the colours in "
            "brand.yaml or the layers' colours:\n- " + "\n- ".join(problems)
        )


# --------------------------------------------------------------------------- fonts and text


@cache
def _font_bytes(path: Path) -> bytes:
    """Each font file is read once per process."""
    return path.read_bytes()


@lru_cache(maxsize=512)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    # Basic layout, not raqm: identical glyph placement on every machine, and faster.
    return ImageFont.truetype(io.BytesIO(_font_bytes(path)), size, layout_engine=ImageFont.Layout.BASIC)


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


def _draw_block(lines: list[str], font: ImageFont.FreeTypeFont, layer: Layer, line_height: int) -> _Block | None:
    """Render ``lines`` in the layer's box; None if any ink would fall outside the box."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = layer.box
    width, height = right - left, bottom - top
    ascent, descent = font.getmetrics()
    block_height = (len(lines) - 1) * line_height + ascent + descent
    if block_height > height:
        return None
    y = {"top": 0, "middle": (height - block_height) // 2, "bottom": height - block_height}[layer.valign]
    # Draw on a canvas with a margin, so ink that would cross the box edge is seen and refused.
    margin = layer.size
    canvas = Image.new("L", (width + 2 * margin, height + 2 * margin), 0)
    draw = ImageDraw.Draw(canvas)
    for index, line in enumerate(lines):
        x = 0 if layer.align == "left" else int((width - font.getlength(line)) // 2)
        draw.text((margin + x, margin + y + index * line_height), line, font=font, fill=255, anchor="la")
    ink = canvas.getbbox()
    if ink is None:
        return None
    if ink[0] < margin or ink[1] < margin or ink[2] > margin + width or ink[3] > margin + height:
        return None
    mask = canvas.crop(ink)
    return _Block(mask=mask, offset=(left + ink[0] - margin, top + ink[1] - margin), size=int(font.size), lines=tuple(lines))


def _sizes(layer: Layer) -> list[int]:
    sizes = list(range(layer.size, layer.min_size, -2))
    return [*sizes, layer.min_size]


def _fit(text: str, layer: Layer, font_path: Path) -> _Block:
    """The largest size (down to ``min_size``) at which ``text`` fits the layer's box, rendered."""
    missing = sorted({c for c in text if not _has_glyph(font_path, c)})
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
        raise TextFitError(f"the font {font_path.name} has no glyph for {shown}: remove these characters from the text")
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


# --------------------------------------------------------------------------- QR codes


def _mask_patterns(size: int) -> list[np.ndarray]:
    """The eight QR data mask patterns of ISO/IEC 18004 (row i, column j)."""
    import numpy as np

    i, j = np.indices((size, size))
    return [
        (i + j) % 2 == 0,
        i % 2 == 0,
        j % 3 == 0,
        (i + j) % 3 == 0,
        (i // 2 + j // 3) % 2 == 0,
        (i * j) % 2 + (i * j) % 3 == 0,
        ((i * j) % 2 + (i * j) % 3) % 2 == 0,
        ((i + j) % 2 + (i * j) % 3) % 2 == 0,
    ]


@lru_cache(maxsize=48)
def _qr_template(version: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """A QR version's fixed modules, where its data modules go (in placement order), its masks.

    The fixed modules are finder, timing and alignment patterns and version information;
    the data positions follow ISO/IEC 18004 7.7.3 (two-module columns, right to left,
    alternately upwards and downwards), as segno places them.
    """
    import numpy as np
    from segno import encoder

    size = encoder.calc_matrix_size(version)
    matrix = encoder.make_matrix(size, size)
    encoder.add_finder_patterns(matrix, size, size)
    encoder.add_alignment_patterns(matrix, size, size)
    free = np.array(matrix, dtype=np.uint8) == 0x2
    encoder.add_version_info(matrix, version)
    rows, cols = [], []
    for right in range(size - 1, 0, -2):
        if right <= 6:
            right -= 1  # skip the vertical timing pattern
        for vertical in range(size):
            for j in (right, right - 1):
                upwards = ((right & 2) == 0) ^ (j < 6)
                i = size - 1 - vertical if upwards else vertical
                if free[i, j]:
                    rows.append(i)
                    cols.append(j)
    template = np.array(matrix, dtype=np.uint8)
    template[free] = 0
    masks = np.stack([pattern & free for pattern in _mask_patterns(size)])
    return template, (np.array(rows), np.array(cols)), masks


def _penalties(stack: np.ndarray) -> np.ndarray:
    """ISO/IEC 18004 mask penalties of a stack of candidate symbols, all at once.

    N1: runs of 5+ same-colour modules (3 + run - 5), N2: 2×2 same-colour blocks (3 each),
    N3: finder-like 1:1:3:1:1 patterns beside 4 light modules (40 each), N4: imbalance of
    dark and light (10 per 5 % away from half). Rows and columns both count.
    """
    import numpy as np

    count, size, _ = stack.shape
    m = stack.astype(np.int8)
    scores = np.zeros(count, dtype=np.int64)
    for lines in (m, m.transpose(0, 2, 1)):
        # N1 as windows: a run of L >= 5 holds L - 4 windows of five equal modules and
        # starts once, so its penalty L - 2 is (windows) + 2 × (starts).
        equal = lines[:, :, 1:] == lines[:, :, :-1]
        five = equal[:, :, :-3] & equal[:, :, 1:-2] & equal[:, :, 2:-1] & equal[:, :, 3:]
        starts = five[:, :, 0].sum(axis=1) + (five[:, :, 1:] & ~equal[:, :, : size - 5]).sum(axis=(1, 2))
        scores += five.sum(axis=(1, 2)) + 2 * starts
        # N3: each 11-module window (light margin outside the symbol) read as an 11-bit number.
        light = np.zeros((count, size, size + 8), dtype=np.int16)
        light[:, :, 4 : 4 + size] = lines
        code = np.zeros((count, size, size - 2), dtype=np.int16)
        for k in range(11):
            code |= light[:, :, k : k + size - 2] << k
        scores += 40 * ((code == _FINDER_AFTER) | (code == _FINDER_BEFORE)).sum(axis=(1, 2))
    block = m[:, :-1, :-1]
    same = (block == m[:, 1:, :-1]) & (block == m[:, :-1, 1:]) & (block == m[:, 1:, 1:])
    scores += 3 * same.sum(axis=(1, 2))
    dark = m.sum(axis=(1, 2)) * 100 / (size * size)
    scores += 10 * (np.abs(dark - 50) // 5).astype(np.int64)
    return scores


@lru_cache(maxsize=1024)
def qr_modules(link: str) -> np.ndarray:
    """The QR code of ``link`` (error level M, boosted when it costs no size) as booleans.

    segno (pinned) encodes the bits and the error correction; placing them, choosing the
    data mask (ISO/IEC 18004 penalties) and masking are done here with numpy, because
    segno's pure-Python placement and mask evaluation cost ~10 ms per code, more than the
    rest of a card. A test checks the result against segno's own symbol.
    """
    import numpy as np
    from segno import consts, encoder

    segments = encoder.prepare_data(link, None, None)
    version = encoder.find_version(segments, consts.ERROR_LEVEL_M, eci=False, micro=False)
    error = encoder.boost_error_level(version, consts.ERROR_LEVEL_M, segments, False)
    buffer = encoder.Buffer()
    for segment in segments:
        encoder.write_segment(buffer, segment, None, encoder.version_range(version), False)
    capacity = consts.SYMBOL_CAPACITY[version][error]  # type: ignore[index]
    encoder.write_terminator(buffer, capacity, None, len(buffer))
    encoder.write_padding_bits(buffer, version, len(buffer))
    encoder.write_pad_codewords(buffer, version, capacity, len(buffer))
    bits = np.frombuffer(bytes(encoder.make_final_message(version, error, buffer).getbits()), dtype=np.uint8)

    template, positions, masks = _qr_template(version)
    if bits.size != positions[0].size:
        raise CardError(f"QR code of {link!r}: {bits.size} bits for {positions[0].size} modules (segno changed?)")
    data = template.copy()
    data[positions] = bits
    candidates = data.astype(bool) ^ masks
    best = int(np.argmin(_penalties(candidates)))
    chosen = [bytearray(row) for row in candidates[best].astype(np.uint8)]
    encoder.add_format_info(chosen, version, error, best)
    return np.array(chosen, dtype=np.uint8) == 1


def _qr_image(link: str, layer: Layer, kit: CardKit) -> tuple[Image.Image, tuple[int, int]]:
    from PIL import Image

    modules = qr_modules(link)
    count = modules.shape[0] + 2 * _QR_QUIET_ZONE
    side = min(layer.box[2] - layer.box[0], layer.box[3] - layer.box[1])
    scale = side // count
    if scale < 2:
        raise CardError(
            f"the QR code of a {len(link)}-character link needs {2 * count} px, its box has {side} px: "
            "enlarge the qr box in the layout or shorten the link in the brief"
        )
    import numpy as np

    dark, light = kit.brand.colors[layer.color], kit.brand.colors[layer.background]
    palette = np.array([light, dark], dtype=np.uint8)
    framed = np.zeros((count, count), dtype=np.uint8)
    framed[_QR_QUIET_ZONE:-_QR_QUIET_ZONE, _QR_QUIET_ZONE:-_QR_QUIET_ZONE] = modules
    image = Image.fromarray(palette[framed], "RGB").resize((count * scale, count * scale), Image.Resampling.NEAREST)
    left = layer.box[0] + (layer.box[2] - layer.box[0] - image.width) // 2
    top = layer.box[1] + (layer.box[3] - layer.box[1] - image.height) // 2
    return image, (left, top)


# --------------------------------------------------------------------------- drawing


def _rounded(draw: Any, box: tuple[int, int, int, int], fill: tuple[int, int, int], radius: int) -> None:
    if radius:
        draw.rounded_rectangle([box[0], box[1], box[2] - 1, box[3] - 1], radius=radius, fill=fill)
    else:
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=fill)


def _cover(path: Path, size: tuple[int, int]) -> Image.Image:
    """An image scaled and centre-cropped to fill ``size``."""
    from PIL import Image, ImageOps

    with Image.open(path) as source:
        return ImageOps.fit(source.convert("RGB"), size, Image.Resampling.LANCZOS)


def _draw_static(kit: CardKit, layout: Layout, *, logo: bool = True) -> Image.Image:
    """Background, bands and logo: the same on every card of a layout.

    Without the logo, it is the ground every text layer is read against.
    """
    from PIL import Image, ImageDraw

    colors = kit.brand.colors
    image = Image.new("RGB", layout.size, colors.get("background", (255, 255, 255)))
    draw = ImageDraw.Draw(image)
    for layer in layout.layers:
        if layer.type == "background":
            if layer.image:
                image.paste(_cover(kit.templates_dir / layer.image, layout.size), (0, 0))
            else:
                draw.rectangle([0, 0, layout.size[0], layout.size[1]], fill=colors[layer.color])
        elif layer.type == "band":
            _rounded(draw, layer.box, colors[layer.color], layer.radius)
        elif layer.type == "logo" and logo:
            if kit.brand.logo_image is not None:
                _paste_logo_image(image, kit.brand.logo_image, layer)
            else:
                try:
                    block = _fit(_normalise(kit.brand.logo_text, kit.brand.fonts[layer.font].path), layer, kit.brand.fonts[layer.font].path)
                except TextFitError as exc:
                    raise BrandError(f"cards/{layout.name}.yaml: logo text: {exc}") from exc
                image.paste(colors[layer.color], block.offset, block.mask)
    return image


def _paste_logo_image(image: Image.Image, path: Path, layer: Layer) -> None:
    from PIL import Image

    with Image.open(path) as source:
        logo = source.convert("RGBA")
    width, height = layer.box[2] - layer.box[0], layer.box[3] - layer.box[1]
    logo.thumbnail((width, height), Image.Resampling.LANCZOS)
    left = layer.box[0] if layer.align == "left" else layer.box[0] + (width - logo.width) // 2
    image.paste(logo, (left, layer.box[1] + (height - logo.height) // 2), logo)


@dataclass(frozen=True)
class CardJob:
    """The cards of one segment × theme: one per format of the kit."""

    segment: str
    theme: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class RenderedCard:
    """An encoded card, a small thumbnail (raw RGB) for the contact sheet, and, for the
    theme's preview format (:func:`preview_format`), the page's inline preview (JPEG)."""

    segment: str
    theme: str
    format: str
    data: bytes
    width: int
    height: int
    thumbnail: bytes
    thumbnail_size: tuple[int, int]
    preview: bytes | None = None
    preview_size: tuple[int, int] | None = None


_PATCHES: OrderedDict[tuple[str, str, int, str], tuple[Image.Image, tuple[int, int]]] = OrderedDict()
_PATCHES_MAX = 128  # a night repeats a few dozen texts per layout; bounded for worst cases


def _text_patch(kit: CardKit, layout: Layout, index: int, text: str) -> tuple[Image.Image, tuple[int, int]]:
    """A text layer drawn on its static ground, as an opaque patch to paste.

    Cached per process: headlines and messages repeat across segments, so most cards copy
    pixels instead of fitting and blending text (blending costs ~1 ms per layer). Exact,
    because text and QR boxes never overlap and the ground under them is static.
    """
    key = (kit.digest, layout.name, index, text)
    cached = _PATCHES.get(key)
    if cached is not None:
        _PATCHES.move_to_end(key)
        return cached
    layer = layout.layers[index]
    font_path = kit.brand.fonts[layer.font].path
    block = _fit(_normalise(text, font_path), layer, font_path)
    left, top = block.offset
    patch = kit.base(layout.name).crop((left, top, left + block.mask.width, top + block.mask.height))
    patch.paste(kit.brand.colors[layer.color], (0, 0), block.mask)
    _PATCHES[key] = (patch, block.offset)
    if len(_PATCHES) > _PATCHES_MAX:
        _PATCHES.popitem(last=False)
    return patch, block.offset


def _draw(kit: CardKit, layout: Layout, fields: Mapping[str, str]) -> Image.Image:
    image = kit.base(layout.name).copy()
    for index, layer in enumerate(layout.layers):
        if layer.type == "text":
            text = fields.get(layer.field, "")
            if not text.strip():
                if layer.field == "footer":
                    raise CardError("the legal mention (footer) is empty: set legal.mention in campaign.yaml")
                continue  # an optional line (e.g. no segment-specific framing)
            patch, offset = _text_patch(kit, layout, index, text)
            image.paste(patch, offset)
        elif layer.type == "qr":
            link = fields.get("link", "")
            if link:
                qr, position = _qr_image(link, layer, kit)
                image.paste(qr, position)
    return image


def _encode(image: Image.Image, kit: CardKit) -> bytes:
    out = io.BytesIO()
    encoding, quality = kit.brand.encoding, kit.brand.quality
    if encoding == "jpeg":
        # Fixed settings and no EXIF/ICC: the bytes depend on the pixels only.
        image.save(out, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False, progressive=False)
    elif encoding == "webp":
        image.save(out, format="WEBP", quality=quality, method=0, exact=True)
    else:
        image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> Image.Image:
    from PIL import Image

    # Sampling every other pixel first halves the cost; box-averaging then keeps it legible.
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.NEAREST)
    return half.reduce(max(1, round(half.height / _THUMB_HEIGHT)))


def preview_format(formats: Sequence[str]) -> str | None:
    """The format whose card a theme's page shows inline: the first in :data:`FORMAT_ORDER`
    (formats outside it come after, by name), as the page lists its downloads."""
    return min(formats, key=lambda name: (FORMAT_ORDER.index(name) if name in FORMAT_ORDER else len(FORMAT_ORDER), name), default=None)


def preview_jpeg(image: Image.Image, *, max_side: int = PREVIEW_MAX_SIDE, max_bytes: int = PREVIEW_MAX_BYTES) -> tuple[bytes, tuple[int, int]]:
    """A reduced JPEG of a drawn card for inlining in the page: ``(bytes, size)``.

    The card is box-averaged by the smallest whole factor that brings its longest side to
    ``max_side`` or less (1080 px → 540 px): a whole-factor reduction costs a tenth of a
    resampling resize and stays sharp. Deterministic (fixed settings, no metadata) and at
    most ``max_bytes``: the quality, then the size, step down until it fits, because heavy
    previews make the page slow on patchy 4G.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    factor = max(1, math.ceil(max(rgb.size) / max_side))
    for step in (factor, factor + 1, factor * 2):
        small = rgb.reduce(step) if step > 1 else rgb
        for quality in (72, 60, 48, 36):
            buffer = io.BytesIO()
            small.save(buffer, "JPEG", quality=quality, optimize=True, progressive=False)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue(), small.size
    raise CardError(f"a card preview stays over {max_bytes} bytes even at low quality: the card is unusually complex")


def _render_job(kit: CardKit, job: CardJob, formats: tuple[str, ...]) -> list[RenderedCard]:
    cards = []
    shown = preview_format(formats)
    for name in formats:
        layout = kit.layouts[name]
        try:
            image = _draw(kit, layout, job.fields)
        except CardError as exc:
            raise type(exc)(f"segment {job.segment}, format {name}, theme {job.theme}: {exc}") from None
        thumb = _thumbnail(image)
        # Made here, from the drawn pixels: decoding the JPEG again later costs more than the card.
        preview, preview_size = preview_jpeg(image) if name == shown else (None, None)
        cards.append(
            RenderedCard(
                segment=job.segment,
                theme=job.theme,
                format=name,
                data=_encode(image, kit),
                width=image.width,
                height=image.height,
                thumbnail=thumb.tobytes(),
                thumbnail_size=thumb.size,
                preview=preview,
                preview_size=preview_size,
            )
        )
    return cards


def render_card(fields: Mapping[str, str], *, templates_dir: Path, format: str = "square") -> bytes:
    """Draw one card in-process and return its encoded bytes (tests, previews)."""
    kit = load_kit(templates_dir)
    if format not in kit.layouts:
        raise CardError(f"format {format!r} is not in brand.yaml cards.formats {list(kit.formats)}")
    return _encode(_draw(kit, kit.layouts[format], fields), kit)


# --------------------------------------------------------------------------- the pool

_WORKER_KIT: CardKit | None = None


def _init_worker(kit: CardKit) -> None:
    """Adopt the parent's checked kit: fonts are read once here, static layers come drawn."""
    global _WORKER_KIT
    _WORKER_KIT = kit
    for spec in kit.brand.fonts.values():
        _font_bytes(spec.path)


def _render_chunk(jobs: Sequence[CardJob], formats: tuple[str, ...]) -> list[RenderedCard]:
    assert _WORKER_KIT is not None, "worker used before _init_worker"
    return [card for job in jobs for card in _render_job(_WORKER_KIT, job, formats)]


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _pool_context() -> Any:
    """Workers forked from a fresh server process that has imported the renderer once.

    Not a plain fork: the parent may be an Airflow task process with threads and locks.
    Not spawn: each worker would import Pillow, numpy and segno again.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["matinale.visuals", "PIL.Image", "PIL.ImageFont", "numpy", "segno"])
    return context


def worker_count(cards: int, requested: int | None = None) -> int:
    """Processes to render ``cards``: the cores this task may use, fewer for small batches.

    ``MATINALE_VISUALS_WORKERS`` overrides the core count (e.g. when several mapped tasks
    share a machine).
    """
    cores = requested or int(os.environ.get("MATINALE_VISUALS_WORKERS", "0") or 0) or _available_cores()
    return max(1, min(cores, cards // _MIN_CARDS_PER_WORKER))


def render_cards(
    jobs: Sequence[CardJob], *, templates_dir: Path, workers: int | None = None, formats: Sequence[str] | None = None
) -> Iterator[RenderedCard]:
    """Render every job's cards, in job order, on a process pool sized to the cores.

    ``formats`` defaults to the brand kit's. The kit is loaded and checked here first, so a
    bad brand kit fails once, clearly, before any process starts. Output does not depend on
    the number of workers.
    """
    kit = load_kit(templates_dir)
    formats = tuple(formats or kit.formats)
    unknown = [name for name in formats if name not in kit.layouts]
    if unknown:
        raise CardError(f"formats {unknown} are not in brand.yaml cards.formats {list(kit.formats)}")
    keys = [(job.segment, job.theme) for job in jobs]
    if len(set(keys)) != len(keys):
        raise CardError("two card jobs share a segment and theme: their files would overwrite each other")
    count = worker_count(len(jobs) * len(formats), workers)
    if count <= 1:
        for job in jobs:
            yield from _render_job(kit, job, formats)
        return

    from concurrent.futures import ProcessPoolExecutor

    for name in formats:
        kit.base(name)  # drawn once here, handed to every worker with the kit
    pool = ProcessPoolExecutor(
        max_workers=count,
        mp_context=_pool_context(),
        initializer=_init_worker,
        initargs=(kit,),
    )
    try:
        size = max(1, min(8, math.ceil(len(jobs) / (count * 8))))
        chunks = iter([jobs[start : start + size] for start in range(0, len(jobs), size)])
        # A bounded window of chunks in flight: results wait in memory only while the
        # caller uploads, and never more than a few per worker.
        pending = deque(pool.submit(_render_chunk, chunk, formats) for chunk in islice(chunks, count * 4))
        while pending:
            cards = pending.popleft().result()
            following = next(chunks, None)
            if following is not None:
                pending.append(pool.submit(_render_chunk, following, formats))
            yield from cards
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------- alt text


def _de(name: str) -> str:
    """French elision: « de Camille », « d’Ensemble Demain »."""
    return f"d’{name}" if name[:1].lower() in "aeiouyhàâéèêëîïôûü" else f"de {name}"


def _quoted(label: str, text: str) -> str:
    text = " ".join(text.split())
    end = "" if text.endswith((".", "!", "?", "…")) else "."
    return f"{label} : « {text} »{end}"


def alt_text(fields: Mapping[str, str], *, format: str, campaign: str) -> str:
    """The French alt text of a card: what it says and what it shows."""
    parts = [f"Visuel {FORMAT_LABELS.get(format, format)} aux couleurs {_de(campaign)}."]
    if fields.get("tagline"):
        parts.append(_quoted("En tête", fields["tagline"]))
    parts.append(_quoted("Titre", fields.get("headline", "")))
    if fields.get("body"):
        parts.append(_quoted("Texte", fields["body"]))
    if fields.get("cta"):
        parts.append(_quoted("Appel à l’action", fields["cta"]))
    if fields.get("link"):
        parts.append(f"Un code QR mène à {_display_link(fields['link'])}.")
    parts.append("En bas, la mention légale de la campagne.")
    return " ".join(parts)


def _display_link(link: str) -> str:
    """The link as a reader would say it: host and path, without tracking parameters."""
    parts = urlsplit(link)
    return f"{parts.netloc}{parts.path}".rstrip("/")


def card_filename(theme: str, format: str, kit: CardKit) -> str:
    """``cards/<theme>-<format>.<ext>`` inside the segment's folder."""
    return f"cards/{theme}-{format}.{kit.extension}"


# --------------------------------------------------------------------------- contact sheet


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
    rows: Sequence[tuple[str, bytes]], *, title: str, templates_dir: Path, rows_per_page: int = 60, quality: int = 80
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
            lines = [part for given in label.split("\n") for part in (_wrap(given, _font(regular, 18), label_width - 16, 4) or [given])]
            for index, line in enumerate(lines[:4]):
                draw.text((margin, top + index * 22), line, font=_font(regular, 18), fill=ink, anchor="la")
            sheet.paste(strip, (margin + label_width, top))
            top += strip.height + row_gap
        buffer = io.BytesIO()
        sheet.save(buffer, format="JPEG", quality=quality, subsampling="4:2:0", optimize=False)
        out.append(buffer.getvalue())
    return out
