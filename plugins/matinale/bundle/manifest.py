"""The manifest: one entry per bundle file, built, written, read back, rebuilt and validated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from matinale.bundle.common import MANIFEST, PAGE_TEMPLATES, BundleError, kind_of, manifest_entry
from matinale.checks import schema_problems
from matinale.store import Store


def _card_details(files: Mapping[str, bytes]) -> dict[str, dict[str, str]]:
    """Theme, format and alt text of every full-size card, from its segment's cards.json."""
    details: dict[str, dict[str, str]] = {}
    for path, data in files.items():
        if kind_of(path) != "cards" or not path.endswith("/cards.json"):
            continue
        segment = path.split("/", 1)[0]
        for card in json.loads(data).get("cards", []):
            details[f"{segment}/{card['file']}"] = {
                key: str(card[key]) for key in ("theme", "format", "alt") if card.get(key)
            }
    return details


def build_manifest(
    files: Mapping[str, bytes],
    meta: Mapping[str, Any],
    image_sizes: Mapping[str, tuple[int, int]],
    *,
    digest_of: Callable[[bytes], str] | None = None,
) -> dict[str, Any]:
    """The manifest: ``meta`` plus one entry per file (sorted), images with their size, cards
    with their theme, format and alt text (read from cards.json, so a rebuild keeps them)."""
    cards = _card_details(files)
    entries = []
    for path in sorted(files):
        extra: dict[str, Any] = dict(cards.get(path, {}))
        if path in image_sizes:
            extra.update(width=image_sizes[path][0], height=image_sizes[path][1])
        entries.append(manifest_entry(path, files[path], digest_of=digest_of, **extra))
    return {**meta, "files": entries}


def write_manifest(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")


def read_bundle_files(store: Store, prefix: str) -> dict[str, bytes]:
    """Every file of a built bundle (paths relative to ``prefix``), the manifest excluded."""
    files = {}
    for key in store.list(prefix):
        relative = key[len(prefix) + 1 :]
        if relative != MANIFEST:
            files[relative] = store.get_bytes(key)
    return files


def _image_sizes(manifest: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    return {e["path"]: (e["width"], e["height"]) for e in manifest.get("files", []) if "width" in e}


def _template_checksums() -> dict[str, str]:
    folder = PAGE_TEMPLATES
    return {
        f"page_templates/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _validate(document: Mapping[str, Any], schema: str) -> None:
    problems = schema_problems(
        document, schema
    )  # validator built once; manifest entries validated once
    if problems:
        where, message = problems[0]
        raise BundleError(f"{schema}.json does not match its schema at {where}: {message[:200]}")


def rebuild_manifest(
    manifest: Mapping[str, Any],
    files: Mapping[str, bytes],
    *,
    digest_of: Callable[[bytes], str] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """The manifest for a changed set of files (pages re-rendered, compliance completed).

    ``digest_of`` (a ``checks.Sha256s``) reuses the digests of objects hashed before.
    """
    base = {k: v for k, v in manifest.items() if k != "files"}
    base.update(meta)
    rebuilt = build_manifest(files, base, _image_sizes(manifest), digest_of=digest_of)
    _validate(rebuilt, "manifest")
    return rebuilt


def validate_compliance(document: Mapping[str, Any]) -> None:
    _validate(document, "compliance")
