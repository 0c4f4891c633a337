"""The brand kit and card layouts: ``brand.yaml`` and ``cards/<format>.yaml`` read and checked.

Layouts are data (a list of layers drawn in order) and the brand kit is data (colours, fonts
shipped under ``content_templates/fonts/`` with their licence, logo, output encoding).
:func:`load_kit` turns both into a checked :class:`CardKit` once per process and per content
of the files; the kit fails here, before anything is drawn, when a file is wrong or a text
layer fails the WCAG contrast check (:mod:`.contrast`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

# The kit draws its static layers (draw) and checks its contrast (contrast) itself; those
# modules see the kit's types only under TYPE_CHECKING, so there is no import cycle.
from matinale.visuals.contrast import _check_contrast
from matinale.visuals.draw import _draw_static
from matinale.visuals.errors import BrandError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["ENCODINGS", "FIELDS", "BrandKit", "CardKit", "FontSpec", "Layer", "Layout", "load_kit"]


#: The card fields a layout may place; ``link`` is drawn as a QR code, the rest as text.
FIELDS: tuple[str, ...] = ("headline", "body", "tagline", "cta", "link", "footer")
#: Output encodings: name → (file extension, content type, Pillow format).
ENCODINGS: dict[str, tuple[str, str, str]] = {
    "jpeg": ("jpg", "image/jpeg", "JPEG"),
    "webp": ("webp", "image/webp", "WEBP"),
    "png": ("png", "image/png", "PNG"),
}


_LAYER_TYPES = ("background", "band", "logo", "text", "qr")
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


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
        raise _brand_error(path, f'{where} = {text!r} must be a hex colour such as "#1B3A6B"')
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
    colors = {
        str(name): _hex_rgb(value, path, f"colors.{name}") for name, value in colors_raw.items()
    }

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
            raise _brand_error(
                path, f"fonts.{role}.weight must be a number such as 400 or 700"
            ) from exc
        fonts[str(role)] = FontSpec(path=file, weight=weight)

    logo = raw.get("logo") or {}
    if not isinstance(logo, dict) or not (logo.get("text") or logo.get("image")):
        raise _brand_error(
            path,
            "'logo' needs 'text' (drawn with a brand font) or 'image' (a PNG under content_templates/)",
        )
    logo_image = None
    if logo.get("image"):
        logo_image = templates_dir / str(logo["image"])
        if not logo_image.is_file():
            raise _brand_error(
                path, f"logo.image {logo['image']!r} not found under {templates_dir}"
            )

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
    if not (
        isinstance(value, list | tuple)
        and len(value) == 4
        and all(isinstance(v, int) for v in value)
    ):
        raise _brand_error(path, f"{where}.box must be [left, top, right, bottom] in pixels")
    left, top, right, bottom = value
    if not (0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]):
        raise _brand_error(
            path, f"{where}.box {list(value)} must lie inside the {size[0]}×{size[1]} canvas"
        )
    return (left, top, right, bottom)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _load_layout(templates_dir: Path, name: str, brand: BrandKit) -> Layout:
    path = templates_dir / "cards" / f"{name}.yaml"
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("layers"), list):
        raise _brand_error(path, "a layout needs 'size: [width, height]' and a list of 'layers'")
    size_raw = raw.get("size")
    if not (
        isinstance(size_raw, list)
        and len(size_raw) == 2
        and all(isinstance(v, int) and v > 0 for v in size_raw)
    ):
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
            raise _brand_error(
                path, f"{where}: size, min_size and radius are pixels, line_spacing a number"
            ) from exc
        layer = Layer(**{**item, **numbers, "box": box})
        for colour in (layer.color, layer.background):
            if colour and colour not in brand.colors:
                raise _brand_error(
                    path,
                    f"{where}: colour {colour!r} is not in brand.yaml colors {sorted(brand.colors)}",
                )
        if kind in {"text", "qr"} and layer.field not in FIELDS:
            raise _brand_error(
                path, f"{where}: field {layer.field!r} must be one of {list(FIELDS)}"
            )
        if kind == "qr" and layer.field != "link":
            raise _brand_error(path, f"{where}: a qr layer draws the 'link' field")
        if kind == "text" and layer.field == "link":
            raise _brand_error(path, f"{where}: the link is drawn as a qr layer, not as text")
        if kind in {"text", "logo"}:
            if layer.font not in brand.fonts:
                raise _brand_error(
                    path,
                    f"{where}: font {layer.font!r} is not in brand.yaml fonts {sorted(brand.fonts)}",
                )
            if not 0 < layer.min_size <= layer.size:
                raise _brand_error(
                    path, f"{where}: needs size and min_size with 0 < min_size <= size"
                )
            if not layer.color:
                raise _brand_error(path, f"{where}: needs a text colour")
            if layer.align not in {"left", "center"} or layer.valign not in {
                "top",
                "middle",
                "bottom",
            }:
                raise _brand_error(
                    path, f"{where}: align is left|center, valign is top|middle|bottom"
                )
        if kind == "qr" and not (layer.color and layer.background):
            raise _brand_error(
                path,
                f"{where}: a qr layer needs color (dark modules) and background (light modules)",
            )
        if kind == "background" and bool(layer.color) == bool(layer.image):
            raise _brand_error(path, f"{where}: a background has either a color or an image")
        if kind == "band" and not layer.color:
            raise _brand_error(path, f"{where}: a band needs a color")
        if kind == "background" and layer.image and not (templates_dir / layer.image).is_file():
            raise _brand_error(
                path, f"{where}: background image {layer.image!r} not found under {templates_dir}"
            )
        layers.append(layer)
    dynamic = [(i, layer) for i, layer in enumerate(layers) if layer.type in {"text", "qr", "logo"}]
    for position, (i, a) in enumerate(dynamic):
        for j, b in dynamic[position + 1 :]:
            if _overlap(a.box, b.box):
                raise _brand_error(
                    path,
                    f"layers[{i}] and layers[{j}] overlap: text or QR code would be drawn over each other",
                )
    if not any(layer.type == "text" and layer.field == "footer" for layer in layers):
        raise _brand_error(
            path, "the legal mention is printed on every card: add a text layer with field: footer"
        )
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
