"""Drawing one card from a layout, and the worker side of the process pool.

Static layers (background, bands, logo) are drawn once per layout and brand; each card is
drawn on that layout's one canvas per process, and the boxes it pasted get the static pixels
back after it. A text layer drawn on its ground is cached per process as a patch to paste. The
same inputs give byte-identical files: fixed encoder settings and no metadata, timestamps
or random state. Each drawn card also gives its contact-sheet thumbnail and, for the
theme's preview format, the page's inline preview.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matinale.visuals.encode import encode_image
from matinale.visuals.errors import BrandError, CardError, TextFitError
from matinale.visuals.qr import _qr_image
from matinale.visuals.text import _fit, _font_bytes, _normalise

if TYPE_CHECKING:
    from PIL import Image

    from matinale.store import Store
    from matinale.visuals.kit import CardKit, Layer, Layout

__all__ = [
    "FORMAT_ORDER",
    "PREVIEW_MAX_BYTES",
    "PREVIEW_MAX_SIDE",
    "CardJob",
    "CardSink",
    "RenderedCard",
    "card_filename",
    "preview_format",
    "preview_jpeg",
]


#: The order formats are listed in a theme's downloads; the first one present is the preview.
FORMAT_ORDER: tuple[str, ...] = ("square", "landscape", "story")
#: The inline preview of a theme on the activists' page: at most this wide/high and heavy.
# 360 px, quality 60: the floor where a card's message and call to action stay readable on a
# phone (its legal line is the first to go); ~18 KB a card, so three themes fit the page's budget.
PREVIEW_MAX_SIDE = 360
PREVIEW_MAX_BYTES = 40_000


_THUMB_HEIGHT = 96  # contact-sheet thumbnails, in pixels


def _rounded(
    draw: Any, box: tuple[int, int, int, int], fill: tuple[int, int, int], radius: int
) -> None:
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
                    block = _fit(
                        _normalise(kit.brand.logo_text, kit.brand.fonts[layer.font].path),
                        layer,
                        kit.brand.fonts[layer.font].path,
                    )
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
class CardSink:
    """Where the process that draws a card writes its files itself (no bytes sent back).

    ``store`` must survive pickling (a :class:`matinale.store.LocalStore` does; an S3 store's
    client does not, so the caller uploads what it gets back). Files go to
    ``<prefix>/<segment>/cards/<theme>-<format>.<ext>`` and the preview to
    ``<prefix>/<segment>/previews/<theme>-<format>.jpg``.
    """

    store: Store
    prefix: str

    def card_key(self, card: RenderedCard | CardJob, name: str) -> str:
        return f"{self.prefix}/{card.segment}/{name}"


@dataclass(frozen=True)
class RenderedCard:
    """An encoded card, a small thumbnail (raw RGB) for the contact sheet, and, for the
    theme's preview format (:func:`preview_format`), the page's inline preview (JPEG).

    ``written``: the worker wrote ``data`` and ``preview`` through a :class:`CardSink`
    and sent back neither (``data`` is empty; ``size`` is its length).
    """

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
    size: int = 0
    written: bool = False


_PATCHES: OrderedDict[tuple[str, str, int, str], tuple[Image.Image, tuple[int, int]]] = (
    OrderedDict()
)
_PATCHES_MAX = 128  # a night repeats a few dozen texts per layout; bounded for worst cases


def _text_patch(
    kit: CardKit, layout: Layout, index: int, text: str
) -> tuple[Image.Image, tuple[int, int]]:
    """A text layer drawn on its static ground, as an opaque patch to paste.

    Cached per process: headlines and messages repeat across segments, so most cards copy
    pixels instead of fitting and blending text (the costly part of a card). Exact,
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
    patch = kit.base(layout.name).crop(
        (left, top, left + block.mask.width, top + block.mask.height)
    )
    patch.paste(kit.brand.colors[layer.color], (0, 0), block.mask)
    _PATCHES[key] = (patch, block.offset)
    if len(_PATCHES) > _PATCHES_MAX:
        _PATCHES.popitem(last=False)
    return patch, block.offset


#: Not a layer's field: what a print format's footer adds (campaign.yaml legal.print_mention).
PRINT_MENTION = "print_mention"


#: Per process, per base image (by identity, the base held so its id stays its own): the
#: base, the card being drawn on a copy of it, and the boxes pasted since the copy last held
#: the base's pixels alone. Not by kit digest: two kits of the same brand.yaml and layouts
#: may hold different logo files. Bounded like the text patches.
_CANVASES: OrderedDict[int, tuple[Image.Image, Image.Image, list[tuple[int, int, int, int]]]] = (
    OrderedDict()
)
_CANVASES_MAX = 12  # a kit has a few layouts; a process rarely holds more than one kit
_CANVAS_LOCK = threading.Lock()  # one card at a time on the canvases; never waited for


def _canvas(base: Image.Image) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """The canvas of ``base`` and its pasted boxes (made on first use, least recent dropped)."""
    entry = _CANVASES.get(id(base))  # an entry holds its base: its id is no other's
    if entry is None:
        entry = _CANVASES[id(base)] = (base, base.copy(), [])
        if len(_CANVASES) > _CANVASES_MAX:
            _CANVASES.popitem(last=False)
    _CANVASES.move_to_end(id(base))
    return entry[1], entry[2]


@contextmanager
def _drawn(kit: CardKit, layout: Layout, fields: Mapping[str, str]) -> Iterator[Image.Image]:
    """The card drawn on the layout's one canvas of this process, valid inside the block.

    Instead of a copy of the base for every card (a 6 MB allocation and copy for a story),
    the text and QR patches are pasted on a canvas kept per layout, and on leaving the block
    the base's pixels are put back in the boxes pasted, whatever happened. Exact: a patch
    covers its box and the rest of the canvas is the base's, so the pixels are a copy's.
    """
    base = kit.base(layout.name)
    if not _CANVAS_LOCK.acquire(blocking=False):
        # A card is being drawn on the canvases already (another thread, or a caller drawing
        # inside a block): this one gets an image of its own.
        image = base.copy()
        _paste_layers(kit, layout, fields, image, [])
        yield image
        return
    try:
        canvas, pasted = _canvas(base)
        try:
            _paste_layers(kit, layout, fields, canvas, pasted)
            yield canvas
        finally:
            for box in pasted:
                canvas.paste(base.crop(box), box[:2])
            pasted.clear()
    finally:
        _CANVAS_LOCK.release()


def _draw(kit: CardKit, layout: Layout, fields: Mapping[str, str]) -> Image.Image:
    """The card drawn on an image of its own (for callers that keep it)."""
    with _drawn(kit, layout, fields) as image:
        return image.copy()


def _paste_layers(
    kit: CardKit,
    layout: Layout,
    fields: Mapping[str, str],
    image: Image.Image,
    pasted: list[tuple[int, int, int, int]],
) -> None:
    for index, layer in enumerate(layout.layers):
        if layer.type == "text":
            text = fields.get(layer.field, "")
            if layer.field == "footer" and layout.print and fields.get(PRINT_MENTION):
                text = f"{text} {fields[PRINT_MENTION]}".strip()
            if not text.strip():
                if layer.field == "footer":
                    raise CardError(
                        "the legal mention (footer) is empty: set legal.mention in campaign.yaml"
                    )
                continue  # an optional line (e.g. no segment-specific framing)
            patch, offset = _text_patch(kit, layout, index, text)
            pasted.append((*offset, offset[0] + patch.width, offset[1] + patch.height))
            image.paste(patch, offset)
        elif layer.type == "qr":
            link = fields.get("link", "")
            if link:
                qr, position = _qr_image(link, layer, kit)
                pasted.append((*position, position[0] + qr.width, position[1] + qr.height))
                image.paste(qr, position)


def _encode(image: Image.Image, kit: CardKit) -> bytes:
    # The brand kit's settings (brand.yaml cards:), applied in one place.
    return encode_image(image, kit.brand.encoder)


def _thumbnail(image: Image.Image) -> Image.Image:
    from PIL import Image

    # Sampling every other pixel first halves the cost; box-averaging then keeps it legible.
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.NEAREST)
    return half.reduce(max(1, round(half.height / _THUMB_HEIGHT)))


def preview_format(formats: Sequence[str]) -> str | None:
    """The format whose card a theme's page shows inline: the first in :data:`FORMAT_ORDER`
    (formats outside it come after, by name), as the page lists its downloads."""
    return min(
        formats,
        key=lambda name: (
            FORMAT_ORDER.index(name) if name in FORMAT_ORDER else len(FORMAT_ORDER),
            name,
        ),
        default=None,
    )


def preview_jpeg(
    image: Image.Image, *, max_side: int = PREVIEW_MAX_SIDE, max_bytes: int = PREVIEW_MAX_BYTES
) -> tuple[bytes, tuple[int, int]]:
    """A reduced JPEG of a drawn card for inlining in the page: ``(bytes, size)``.

    The card is box-averaged by the smallest whole factor that brings its longest side to
    ``max_side`` or less (1080 px → 360 px): a whole-factor reduction costs a tenth of a
    resampling resize and stays sharp. Deterministic (fixed settings, no metadata) and at
    most ``max_bytes``: the quality, then the size, step down until it fits, because heavy
    previews make the page slow on patchy 4G.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    factor = max(1, math.ceil(max(rgb.size) / max_side))
    for step in (factor, factor + 1, factor * 2):
        small = rgb.reduce(step) if step > 1 else rgb
        for quality in (60, 50, 40, 32):
            buffer = io.BytesIO()
            small.save(buffer, "JPEG", quality=quality, optimize=True, progressive=False)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue(), small.size
    raise CardError(
        f"a card preview stays over {max_bytes} bytes even at low quality: the card is unusually complex"
    )


def card_filename(theme: str, format: str, kit: CardKit) -> str:
    """``cards/<theme>-<format>.<ext>`` inside the segment's folder."""
    return f"cards/{theme}-{format}.{kit.extension}"


def _render_job(
    kit: CardKit, job: CardJob, formats: tuple[str, ...], sink: CardSink | None = None
) -> list[RenderedCard]:
    cards = []
    shown = preview_format(formats)
    for name in formats:
        layout = kit.layouts[name]
        try:
            with _drawn(kit, layout, job.fields) as image:
                thumb = _thumbnail(image)
                # Made here, from the drawn pixels: decoding the JPEG again later costs more
                # than the card.
                preview, preview_size = preview_jpeg(image) if name == shown else (None, None)
                data = _encode(image, kit)
                width, height = image.size
        except CardError as exc:
            raise type(exc)(
                f"segment {job.segment}, format {name}, theme {job.theme}: {exc}"
            ) from None
        size = len(data)
        if sink is not None:
            # Written here, by the process that drew it: the bytes never cross the pool's pipe.
            filename = card_filename(job.theme, name, kit)
            sink.store.put_bytes(sink.card_key(job, filename), data)
            if preview is not None:
                preview_name = f"previews/{filename.rsplit('/', 1)[-1]}"
                sink.store.put_bytes(sink.card_key(job, preview_name), preview)
            data, preview = b"", None
        cards.append(
            RenderedCard(
                segment=job.segment,
                theme=job.theme,
                format=name,
                data=data,
                width=width,
                height=height,
                thumbnail=thumb.tobytes(),
                thumbnail_size=thumb.size,
                preview=preview,
                preview_size=preview_size,
                size=size,
                written=sink is not None,
            )
        )
    return cards


# --------------------------------------------------------------------------- the worker side of the pool

_WORKER_KIT: CardKit | None = None
_WORKER_SINK: CardSink | None = None


def _init_worker(kit: CardKit, sink: CardSink | None = None) -> None:
    """Adopt the parent's checked kit: fonts are read once here, static layers come drawn;
    with a ``sink``, the worker writes its cards' files itself."""
    global _WORKER_KIT, _WORKER_SINK
    _WORKER_KIT = kit
    _WORKER_SINK = sink
    for spec in kit.brand.fonts.values():
        _font_bytes(spec.path)


def _render_chunk(jobs: Sequence[CardJob], formats: tuple[str, ...]) -> list[RenderedCard]:
    assert _WORKER_KIT is not None, "worker used before _init_worker"
    return [card for job in jobs for card in _render_job(_WORKER_KIT, job, formats, _WORKER_SINK)]
