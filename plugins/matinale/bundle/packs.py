"""Previews and packs: reduced JPEGs of the cards, the byte-reproducible zip and what it holds.

A segment's pack (``<segment>/pack.zip``: its posts, alt texts and full-size cards) is either
a file of the bundle (``stored``) or, with a link service, built on request from the bundle's
own files (``served``, :mod:`matinale.links.packs`): the same bytes either way
(:func:`make_pack` of :func:`pack_members`), but the cards are stored once.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from matinale.bundle.common import BundleError, french_date, kind_of
from matinale.checks import PACK, PACK_MODES, PACKED_KINDS, safe_member_name, served_packs
from matinale.segment import Segment
from matinale.visuals import PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE, preview_format

#: The plain-text alt texts a pack holds (a bundle file too).
ALT_TEXTS = "textes-alternatifs.txt"

# A fixed timestamp for pack members: the same inputs give the same bytes, whenever built.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def make_preview(
    data: bytes, *, max_side: int = PREVIEW_MAX_SIDE, max_bytes: int = PREVIEW_MAX_BYTES
) -> tuple[bytes, tuple[int, int], tuple[int, int]]:
    """A reduced JPEG of an encoded card: ``(bytes, preview size, full size)``.

    The visuals stage makes previews from the drawn pixels (``visuals.preview_jpeg``); this
    is for a card that arrives without one (a run drawn by an older version).
    """
    from PIL import Image

    from matinale.visuals import CardError, preview_jpeg

    with Image.open(io.BytesIO(data)) as image:
        full = image.size
        decoded = image.convert("RGB")
    try:
        preview, size = preview_jpeg(decoded, max_side=max_side, max_bytes=max_bytes)
    except CardError as exc:
        raise BundleError(str(exc)) from None
    return preview, size, full


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height from an image's header (nothing decoded)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _shown_cards(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The card each theme's section previews: the theme's :func:`preview_format`."""
    by_theme: dict[str, dict[str, dict[str, Any]]] = {}
    for card in cards:
        by_theme.setdefault(str(card.get("theme")), {})[str(card.get("format", ""))] = card
    return [formats[preview_format(list(formats)) or ""] for formats in by_theme.values()]


def pack_members(paths: Iterable[str], segment: str) -> list[str]:
    """The bundle files ``segment``'s pack holds, sorted: their paths are their zip names."""
    folder = f"{segment}/"
    return sorted(p for p in paths if p.startswith(folder) and kind_of(p) in PACKED_KINDS)


__all__ = [
    "ALT_TEXTS",
    "PACK",
    "PACK_MODES",
    "build_pack",
    "make_pack",
    "make_preview",
    "pack_members",
    "pack_of",
    "served_pack_members",
]


def build_pack(members: Iterable[tuple[str, str]], read: Callable[[str], bytes]) -> bytes:
    """A served pack: :func:`make_pack` of ``members`` (path, SHA-256 the manifest lists),
    each read with ``read(path)`` and refused (:class:`BundleError`) unless it is those bytes.
    """
    data: dict[str, bytes] = {}
    for path, sha256 in members:
        data[path] = read(path)
        if hashlib.sha256(data[path]).hexdigest() != sha256:
            raise BundleError(f"{path}: not the bytes the manifest lists; rebuild or republish")
    return make_pack(data)


def served_pack_members(manifest: Mapping[str, Any]) -> dict[str, tuple[tuple[str, str], ...]]:
    """A ``served`` manifest's packs: ``<segment>/pack.zip`` → its members as (path, SHA-256
    the manifest lists), what :func:`build_pack` needs; none when the packs are stored."""
    sha256 = {str(f.get("path")): str(f.get("sha256")) for f in manifest.get("files", [])}
    return {
        pack: tuple((path, sha256[path]) for path in members)
        for pack, members in served_packs(manifest).items()
    }


def pack_of(manifest: Mapping[str, Any], path: str, read: Callable[[str], bytes]) -> bytes | None:
    """The served pack at ``path`` (``<segment>/pack.zip``) of a run whose manifest says
    ``packs: served``, built from ``read``; None when ``path`` is no served pack."""
    members = served_pack_members(manifest).get(path)
    return None if members is None else build_pack(members, read)


def make_pack(members: Mapping[str, bytes]) -> bytes:
    """A byte-reproducible zip: sorted members, fixed timestamps and modes, safe names.

    JPEGs are stored (already compressed); text is deflated at a fixed level.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            if not safe_member_name(name):
                raise BundleError(
                    f"pack member {name!r} is not a safe relative name (zip-slip): fix the file name"
                )
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            info.compress_type = (
                zipfile.ZIP_STORED
                if name.endswith((".jpg", ".jpeg", ".png", ".webp"))
                else zipfile.ZIP_DEFLATED
            )
            archive.writestr(
                info,
                members[name],
                compresslevel=9 if info.compress_type == zipfile.ZIP_DEFLATED else None,
            )
    return buffer.getvalue()


def _posts_markdown(
    segment: Segment,
    posts: list[dict[str, Any]],
    themes: list[dict[str, Any]],
    edition: date,
    labels: Mapping[str, str],
) -> str:
    """A readable version of posts.json, when the content stage did not write one."""
    lines = [f"# {segment.label or segment.id} – édition du {french_date(edition)}", ""]
    for theme in themes:
        lines += [f"## {theme['title']}", ""]
        for post in posts:
            if post.get("theme") == theme["id"]:
                label = labels.get(post.get("channel", ""), post.get("channel", ""))
                lines += [
                    f"### {label} – version {post.get('variant', 1)}",
                    "",
                    str(post.get("text", "")),
                    "",
                ]
    return "\n".join(lines)


def _alt_texts(cards: list[dict[str, Any]]) -> str:
    """Alt texts as plain French text for the pack (``textes-alternatifs.txt``)."""
    lines = [
        "Textes alternatifs des visuels (à coller dans le champ « texte alternatif » du réseau social)",
        "",
    ]
    for card in cards:
        lines += [card["file"].rsplit("/", 1)[-1], str(card.get("alt", "")), ""]
    return "\n".join(lines)
