"""The brand kit and card layouts: ``brand.yaml`` and ``cards/<format>.yaml`` read and checked.

Layouts are data (a list of layers drawn in order) and the brand kit is data (colours, fonts
shipped under ``content_templates/fonts/`` with their licence, logo, output encoding).
:func:`load_kit` turns both into a checked :class:`CardKit` once per process and per content
of the files; the kit fails here, before anything is drawn, when a file is wrong or a text
layer fails the WCAG contrast check (:mod:`.contrast`).

Both are read by :func:`matinale.yamlfile.load_yaml` and validated by :class:`BrandFile` and
:class:`LayoutFile` (JSON Schemas ``brand`` and ``card_layout`` in ``matinale/schemas/``);
what needs the other file or the disk (colour and font names, font files) is checked after.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    PositiveInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from matinale.schemas.fields import Required, Section

# The kit draws its static layers (draw) and checks its contrast (contrast) itself; those
# modules see the kit's types only under TYPE_CHECKING, so there is no import cycle.
from matinale.visuals.contrast import _check_contrast
from matinale.visuals.draw import _draw_static
from matinale.visuals.encode import Encoder
from matinale.visuals.errors import BrandError
from matinale.yamlfile import Fix, load_yaml

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "ENCODINGS",
    "FIELDS",
    "BrandFile",
    "BrandKit",
    "CardKit",
    "FontSpec",
    "Layer",
    "Layout",
    "LayoutFile",
    "load_kit",
]


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
    #: The encoder's settings (``quality`` included): see :mod:`matinale.visuals.encode`.
    encoder: Encoder = Encoder()


@dataclass(frozen=True)
class Layout:
    """A card format: canvas size, the width at which pages show it, layers in drawing order."""

    name: str
    size: tuple[int, int]
    display_width: int
    layers: tuple[Layer, ...]
    print: bool = False  # paper: the footer adds the print-only mention

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


def _hex_rgb(value: Any) -> tuple[int, int, int]:
    text = str(value)
    if not _HEX.match(text):
        raise Fix(f"{text!r} must be a hex colour", 'write it in quotes, e.g. "#1B3A6B"')
    digits = text[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def _font(value: Any) -> Any:
    return value if isinstance(value, dict) else {"file": value}


def _encoding(value: Any) -> Any:
    encoding = str(value).lower()
    if encoding not in ENCODINGS:
        raise Fix(f"{encoding!r} is not an encoding", f"use one of {sorted(ENCODINGS)}")
    return encoding


def _quality(value: int) -> int:
    if not 1 <= value <= 100:
        raise Fix(f"{value} is out of range", "use 1..100 (90 is a good default)")
    return value


def _layer_type(value: Any) -> Any:
    if value not in _LAYER_TYPES:
        raise Fix(f"'type' must be one of {list(_LAYER_TYPES)}", "pick one of those")
    return value


Colour = Annotated[
    tuple[int, int, int],
    PlainValidator(_hex_rgb),
    WithJsonSchema({"type": "string", "pattern": _HEX.pattern, "examples": ["#1B3A6B"]}),
]


class FontFile(Section):
    """A font shipped under content_templates/fonts/ and its weight."""

    file: Required = Field(examples=["fonts/Lato-Regular.ttf"])
    weight: int = Field(400, description="400 regular, 700 bold, 900 black")


class LogoFile(Section):
    """The logo: text drawn with a brand font, or a PNG under content_templates/."""

    text: str | None = None
    image: str | None = None

    @model_validator(mode="after")
    def _text_or_image(self) -> LogoFile:
        if not (self.text or self.image):
            raise Fix(
                "'logo' needs 'text' (drawn with a brand font) or 'image' (a PNG under content_templates/)"
            )
        return self


class CardsFile(Section):
    """Which formats are drawn and how they are encoded."""

    formats: list[str] = ["square", "landscape", "story"]
    encoding: Annotated[Literal["jpeg", "webp", "png"], BeforeValidator(_encoding)] = "jpeg"
    quality: Annotated[int, AfterValidator(_quality)] = 90
    subsampling: Literal["4:2:0", "4:4:4"] = Field(
        default="4:2:0", description="JPEG chroma subsampling (4:4:4 keeps full colour resolution)"
    )
    progressive: bool = Field(default=False, description="JPEG progressive scan (smaller files)")
    optimize: bool = Field(
        default=False, description="JPEG optimised Huffman tables (smaller files)"
    )


class BrandFile(Section):
    """``content_templates/brand.yaml``: colours, fonts, logo and card output."""

    colors: dict[str, Colour]
    fonts: dict[str, Annotated[FontFile, BeforeValidator(_font)]]
    logo: LogoFile = Field(examples=['{text: "Ensemble Demain"}'])
    cards: CardsFile = CardsFile()

    @field_validator("colors", "fonts")
    @classmethod
    def _not_empty(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if not value:
            raise Fix(f"'{info.field_name}' is empty", "name at least one")
        return value


class LayerFile(Section):
    """One layer of a layout; which keys matter depends on ``type``."""

    type: Annotated[
        Literal["background", "band", "logo", "text", "qr"], BeforeValidator(_layer_type)
    ]
    box: tuple[int, int, int, int] | None = Field(
        None, description="[left, top, right, bottom] in pixels"
    )
    color: str = ""
    field: str = ""
    font: str = ""
    size: int = 0
    min_size: int = 0
    line_spacing: float = 1.15
    align: Literal["left", "center"] = "left"
    valign: Literal["top", "middle", "bottom"] = "top"
    radius: int = 0
    image: str = ""
    background: str = ""

    @model_validator(mode="after")
    def _fits_its_type(self) -> LayerFile:
        problem = _layer_problem(self)
        if problem:
            raise Fix(problem)
        return self


class Layer(LayerFile):
    """One layer of a checked layout (``box`` always set); which attributes matter depends on ``type``."""

    model_config = ConfigDict(frozen=True)

    box: tuple[int, int, int, int]


def _layer_problem(layer: LayerFile) -> str | None:
    """What is wrong with ``layer`` for its type, whatever the brand kit, or None."""
    kind = layer.type
    if kind != "background" and layer.box is None:
        return "box must be [left, top, right, bottom] in pixels"
    if kind in {"text", "qr"} and layer.field not in FIELDS:
        return f"field {layer.field!r} must be one of {list(FIELDS)}"
    if kind == "qr" and layer.field != "link":
        return "a qr layer draws the 'link' field"
    if kind == "text" and layer.field == "link":
        return "the link is drawn as a qr layer, not as text"
    if kind in {"text", "logo"} and not 0 < layer.min_size <= layer.size:
        return "needs size and min_size with 0 < min_size <= size"
    if kind in {"text", "logo"} and not layer.color:
        return "needs a text colour"
    if kind == "qr" and not (layer.color and layer.background):
        return "a qr layer needs color (dark modules) and background (light modules)"
    if kind == "background" and bool(layer.color) == bool(layer.image):
        return "a background has either a color or an image"
    if kind == "band" and not layer.color:
        return "a band needs a color"
    return None


class LayoutFile(Section):
    """``content_templates/cards/<format>.yaml``: canvas, display width, layers in order."""

    size: tuple[PositiveInt, PositiveInt] = Field(description="[width, height] in pixels")
    display_width: PositiveInt = 360
    print: bool = Field(
        default=False,
        description="A format for paper (flyer, poster): its footer adds campaign.yaml's "
        "legal.print_mention ('Ne pas jeter sur la voie publique'), which screens never show",
    )
    layers: list[LayerFile]


def _load_brand(templates_dir: Path) -> BrandKit:
    doc = load_yaml(templates_dir / "brand.yaml", error=BrandError)
    raw = doc.validate(BrandFile)
    fonts = {}
    for role, spec in raw.fonts.items():
        file = templates_dir / spec.file
        if not file.is_file():
            raise doc.refuse(
                f"font file {spec.file!r} not found under {templates_dir}",
                "ship the font (with its licence) in content_templates/fonts/: system fonts differ between machines",
                path=("fonts", role, "file"),
            )
        fonts[role] = FontSpec(path=file, weight=spec.weight)
    logo_image = templates_dir / raw.logo.image if raw.logo.image else None
    if logo_image is not None and not logo_image.is_file():
        raise doc.refuse(
            f"{raw.logo.image!r} not found under {templates_dir}",
            "put the PNG there or give the logo as text",
            path=("logo", "image"),
        )
    return BrandKit(
        colors=dict(raw.colors),
        fonts=fonts,
        logo_text=raw.logo.text or "",
        logo_image=logo_image,
        formats=tuple(raw.cards.formats),
        encoding=raw.cards.encoding,
        quality=raw.cards.quality,
        encoder=Encoder(
            encoding=raw.cards.encoding,
            quality=raw.cards.quality,
            subsampling=raw.cards.subsampling,
            progressive=raw.cards.progressive,
            optimize=raw.cards.optimize,
        ),
    )


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _brand_problem(layer: LayerFile, brand: BrandKit, templates_dir: Path) -> str | None:
    """What ``layer`` names that the brand kit does not have, or None."""
    for colour in (layer.color, layer.background):
        if colour and colour not in brand.colors:
            return f"colour {colour!r} is not in brand.yaml colors {sorted(brand.colors)}"
    if layer.type in {"text", "logo"} and layer.font not in brand.fonts:
        return f"font {layer.font!r} is not in brand.yaml fonts {sorted(brand.fonts)}"
    if layer.type == "background" and layer.image and not (templates_dir / layer.image).is_file():
        return f"background image {layer.image!r} not found under {templates_dir}"
    return None


def _load_layout(templates_dir: Path, name: str, brand: BrandKit) -> Layout:
    doc = load_yaml(templates_dir / "cards" / f"{name}.yaml", error=BrandError)
    raw = doc.validate(LayoutFile)
    size = raw.size
    layers = []
    for index, item in enumerate(raw.layers):
        where = ("layers", index)
        box = (0, 0, *size) if item.type == "background" or item.box is None else item.box
        left, top, right, bottom = box
        if not (0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]):
            raise doc.refuse(
                f"{list(box)} must lie inside the {size[0]}×{size[1]} canvas",
                "move or shrink the box",
                path=(*where, "box"),
            )
        problem = _brand_problem(item, brand, templates_dir)
        if problem:
            raise doc.refuse(problem, "use a name defined in brand.yaml", path=where)
        layers.append(Layer(**{**item.model_dump(), "box": box}))
    dynamic = [(i, layer) for i, layer in enumerate(layers) if layer.type in {"text", "qr", "logo"}]
    for position, (i, a) in enumerate(dynamic):
        for j, b in dynamic[position + 1 :]:
            if _overlap(a.box, b.box):
                raise doc.refuse(
                    f"layers[{i}] and layers[{j}] overlap: text or QR code would be drawn over each other",
                    "move one of the boxes",
                    path=("layers", j, "box"),
                )
    if not any(layer.type == "text" and layer.field == "footer" for layer in layers):
        raise doc.refuse(
            "the legal mention is printed on every card: add a text layer with field: footer",
            "",
            path=("layers",),
        )
    return Layout(
        name=name,
        size=size,
        display_width=raw.display_width,
        layers=tuple(layers),
        print=raw.print,
    )


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
