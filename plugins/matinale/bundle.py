"""Assemble the morning bundle: pages, per-segment files and the manifest.

The bundle is files in the work store under ``bundle/``; publishing them is a separate step.
No supporter-level data is ever part of it.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import asdict
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from matinale.store import Store

__all__ = ["CHANNEL_LABELS", "MANIFEST", "build_bundle", "content_type", "manifest_entry", "render_page"]

MANIFEST = "manifest.json"
CHANNEL_LABELS = {
    "x": "X (Twitter)",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "sms": "SMS",
    "email": "E-mail",
}
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre")
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def french_date(day: date) -> str:
    """``mardi 24 novembre 2026``."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def content_type(path: str) -> str:
    if path.endswith(".json"):
        return "application/json"
    if path.endswith(".md"):
        return "text/markdown; charset=utf-8"
    if path.endswith(".html"):
        return "text/html; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def _kind(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if "/cards/" in f"/{path}":
        return "card"
    return {
        "index.html": "page",
        "posts.json": "posts",
        "posts.md": "posts",
        "cards.json": "cards",
        "pack.zip": "pack",
        "compliance.json": "compliance",
    }.get(name, "other")


def manifest_entry(path: str, data: bytes) -> dict[str, Any]:
    segment = path.split("/", 1)[0] if "/" in path else None
    return {
        "path": path,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "content_type": content_type(path),
        "segment": segment,
        "kind": _kind(path),
    }


@cache
def _pages_env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(template: str, **context: Any) -> bytes:
    return _pages_env().get_template(template).render(**context).encode("utf-8")


def build_bundle(
    store: Store,
    prefix: str,
    *,
    edition: date,
    run: str,
    segments: list[dict[str, Any]],
    brief: Any,
    campaign: Any,
    inputs: dict[str, str],
) -> dict[str, Any]:
    """Write pages and the manifest under ``prefix`` (the run's ``bundle/`` folder)."""
    themes = [asdict(t) for t in brief.themes]
    context = {"campaign": asdict(campaign), "edition_label": french_date(edition), "themes": themes, "channel_labels": CHANNEL_LABELS}
    overview_rows = []
    for segment in segments:
        base = f"{prefix}/{segment['id']}"
        posts = json.loads(store.get_bytes(f"{base}/posts.json"))["posts"]
        cards = json.loads(store.get_bytes(f"{base}/cards.json"))["cards"]
        store.put_bytes(f"{base}/index.html", render_page("segment.html.j2", segment=segment, posts=posts, cards=cards, **context))
        overview_rows.append({**segment, "posts": len(posts), "cards": len(cards)})
    store.put_bytes(f"{prefix}/index.html", render_page("overview.html.j2", segments=overview_rows, **context))

    files = []
    for key in store.list(prefix):
        relative = key[len(prefix) + 1 :]
        if relative == MANIFEST:
            continue
        files.append(manifest_entry(relative, store.get_bytes(key)))
    manifest = {
        "schema": "matinale.manifest/1",
        "edition": edition.isoformat(),
        "run": run,
        "campaign": campaign.slug,
        "segments": [{k: s[k] for k in ("id", "label", "size")} for s in segments],
        "inputs": inputs,
        "files": files,
    }
    store.put_bytes(f"{prefix}/{MANIFEST}", json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode())
    return {"files": len(files) + 1, "bytes": sum(f["bytes"] for f in files)}
