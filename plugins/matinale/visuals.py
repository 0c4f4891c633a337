"""Cards drawn with Pillow from layouts that are data (``content_templates/cards/*.yaml``).

The same inputs give byte-identical files: no timestamps, no random state, fonts shipped
with the project (never a system font lookup).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CardError", "Layout", "load_brand", "load_layout", "render_card"]


class CardError(RuntimeError):
    """A card cannot be drawn: the message names segment, format and theme."""


@dataclass(frozen=True)
class Layout:
    name: str
    size: tuple[int, int]
    layers: tuple[dict[str, Any], ...]


@cache
def load_layout(templates_dir: Path, name: str) -> Layout:
    path = templates_dir / "cards" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Layout(name=name, size=tuple(raw["size"]), layers=tuple(raw["layers"]))  # type: ignore[arg-type]


@cache
def load_brand(templates_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((templates_dir / "brand.yaml").read_text(encoding="utf-8"))


@cache
def _font(path: Path, size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(str(path), size)


def _wrap(draw: Any, text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=font) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def _fit(draw: Any, text: str, font_path: Path, box: list[int], size: int, min_size: int) -> tuple[Any, list[str], int]:
    """The largest font size (down to ``min_size``) at which ``text`` fits ``box``."""
    width, height = box[2] - box[0], box[3] - box[1]
    for candidate in range(size, min_size - 1, -2):
        font = _font(font_path, candidate)
        lines = _wrap(draw, text, font, width)
        line_height = int(candidate * 1.2)
        widest = max((draw.textlength(line, font=font) for line in lines), default=0)
        if widest <= width and line_height * len(lines) <= height:
            return font, lines, line_height
    raise CardError(f"text does not fit a {width}×{height} box even at {min_size}px: {text[:60]!r}…")


def _qr(link: str, side: int) -> Any:
    import segno
    from PIL import Image

    buffer = io.BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=10, border=2)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB").resize((side, side), Image.Resampling.NEAREST)


def render_card(fields: dict[str, str], *, layout: Layout, templates_dir: Path, quality: int = 90) -> bytes:
    """Draw one card and return its JPEG bytes."""
    from PIL import Image, ImageDraw

    brand = load_brand(templates_dir)
    colors = brand["colors"]
    image = Image.new("RGB", layout.size, colors["background"])
    draw = ImageDraw.Draw(image)
    for layer in layout.layers:
        kind = layer["type"]
        if kind == "background":
            draw.rectangle([0, 0, *layout.size], fill=colors[layer["color"]])
        elif kind == "band":
            draw.rectangle(layer["box"], fill=colors[layer["color"]])
        elif kind == "text":
            text = fields.get(layer["field"], "")
            if not text:
                continue
            font_path = templates_dir / brand["fonts"][layer["font"]]
            font, lines, line_height = _fit(draw, text, font_path, layer["box"], layer["size"], layer["min_size"])
            left, top = layer["box"][0], layer["box"][1]
            for index, line in enumerate(lines):
                draw.text((left, top + index * line_height), line, font=font, fill=colors[layer["color"]])
        elif kind == "qr":
            link = fields.get(layer["field"], "")
            if link:
                box = layer["box"]
                image.paste(_qr(link, min(box[2] - box[0], box[3] - box[1])), (box[0], box[1]))
        else:
            raise CardError(f"layout {layout.name}: unknown layer type {kind!r}")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, optimize=False)
    return out.getvalue()
