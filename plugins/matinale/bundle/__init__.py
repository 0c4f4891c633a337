"""Assemble the morning bundle: pages, packs, previews, compliance and the manifest.

The bundle is files in the work store under the run's ``bundle/`` folder; publishing them is
a separate step (``matinale.publish``). No supporter-level data is ever part of it.

One concern a module:

- :mod:`.common`: file names, French dates, slugs, file kinds and manifest entries;
- :mod:`.packs`: card previews and the byte-reproducible pack of each segment (stored, or
  served by the link service from the bundle's files);
- :mod:`.page`: the activist pages and the overview (channels as channels.yaml says);
- :mod:`.manifest`: the manifest, built, written, read back, rebuilt and validated;
- :mod:`.build`: one run's bundle, built from what content and visuals left.
"""

from __future__ import annotations

from matinale.bundle.build import build_bundle
from matinale.bundle.common import (
    COMPLIANCE,
    FORMAT_LABELS,
    MANIFEST,
    PARIS,
    BundleError,
    Linker,
    check_slug,
    content_type,
    french_date,
    french_datetime,
    kind_of,
    manifest_entry,
)
from matinale.bundle.manifest import (
    build_manifest,
    read_bundle_files,
    rebuild_manifest,
    validate_compliance,
    write_manifest,
)
from matinale.bundle.packs import (
    ALT_TEXTS,
    PACK,
    PACK_MODES,
    build_pack,
    make_pack,
    make_preview,
    pack_members,
    pack_of,
    served_pack_members,
)
from matinale.bundle.page import relative_linker, render_page, render_pages
from matinale.visuals import PREVIEW_MAX_BYTES

__all__ = [
    "ALT_TEXTS",
    "COMPLIANCE",
    "FORMAT_LABELS",
    "MANIFEST",
    "PACK",
    "PACK_MODES",
    "PARIS",
    "PREVIEW_MAX_BYTES",
    "BundleError",
    "Linker",
    "build_bundle",
    "build_pack",
    "build_manifest",
    "check_slug",
    "content_type",
    "french_date",
    "french_datetime",
    "kind_of",
    "make_pack",
    "make_preview",
    "manifest_entry",
    "pack_members",
    "pack_of",
    "read_bundle_files",
    "rebuild_manifest",
    "relative_linker",
    "render_page",
    "render_pages",
    "served_pack_members",
    "validate_compliance",
    "write_manifest",
]
