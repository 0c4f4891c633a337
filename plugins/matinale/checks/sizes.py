"""The sizes check: every file under its kind's limit (``limits`` in campaign.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matinale.checks.report import CheckReport, Finding

__all__ = ["DEFAULT_LIMITS", "PACK", "PACKED_KINDS", "PACK_MODES", "limits_from", "served_packs"]

#: A segment's pack, in its folder (``<segment>/pack.zip``).
PACK = "pack.zip"
#: ``stored``: each pack is a bundle file; ``served``: the link service builds it on request
#: from the bundle's own files (the manifest's ``packs``; absent: stored).
PACK_MODES = ("stored", "served")
#: What a pack holds, by file kind: posts.json/posts.md, cards.json and the alt texts, cards.
PACKED_KINDS = frozenset({"posts", "cards", "card"})

#: Bytes per file kind (see ``bundle.kind_of``). Override any of them in campaign.yaml under
#: ``limits:`` (e.g. ``page: 1500000``). A page over 1 MB is slow on patchy 4G.
DEFAULT_LIMITS: dict[str, int] = {
    "page": 1_000_000,
    "overview": 1_000_000,
    "preview": 40_000,
    "card": 4_000_000,
    "pack": 60_000_000,
    "posts": 5_000_000,
    "cards": 1_000_000,
    "compliance": 1_000_000,
    "other": 10_000_000,
}


def served_packs(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    """A ``served`` manifest's packs: ``<segment>/pack.zip`` → its members' paths, sorted
    (their names in the zip); none when the packs are stored, each then a listed file."""
    if manifest.get("packs") != "served":
        return {}
    members: dict[str, list[str]] = {str(s.get("id")): [] for s in manifest.get("segments", [])}
    for entry in manifest.get("files", []):
        segment = entry.get("segment")
        if segment in members and entry.get("kind") in PACKED_KINDS:
            members[segment].append(str(entry["path"]))
    return {f"{segment}/{PACK}": sorted(paths) for segment, paths in members.items()}


def limits_from(raw: Mapping[str, Any] | None) -> dict[str, int]:
    """The size limits: defaults, overridden by campaign.yaml's ``limits`` section."""
    limits = dict(DEFAULT_LIMITS)
    for kind, value in dict((raw or {}).get("limits") or {}).items():
        if kind not in limits:
            raise ValueError(
                f"campaign.yaml: limits.{kind} is not a file kind; use one of {sorted(limits)}"
            )
        try:
            limits[kind] = int(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"campaign.yaml: limits.{kind} = {value!r} must be a number of bytes"
            ) from exc
    return limits


def _check_sizes(
    files: Mapping[str, bytes],
    kinds: Mapping[str, str],
    limits: Mapping[str, int],
    report: CheckReport,
    packs: Mapping[str, list[str]] | None = None,
) -> None:
    """Every file under its kind's limit, and each served pack (``packs``: path → members)
    under the pack limit by the bytes of its members (a stored zip adds under 200 a member)."""
    report.counts.setdefault("sizes", {"findings": 0})
    for path, members in sorted((packs or {}).items()):
        size = sum(len(files[m]) for m in members if m in files)
        if size > limits["pack"]:
            report.add(
                Finding(
                    "sizes",
                    path,
                    "bytes (its members, served)",
                    f"{size:,} > {limits['pack']:,}",
                    "pack is over its size limit: make the cards lighter or raise limits.pack in campaign.yaml",
                )
            )
    for path, data in sorted(files.items()):
        kind = kinds.get(path, "other")
        limit = limits.get(kind, limits["other"])
        report.count("sizes", "files")
        report.count("sizes", "bytes", len(data))
        if len(data) > limit:
            report.add(
                Finding(
                    "sizes",
                    path,
                    "bytes",
                    f"{len(data):,} > {limit:,}",
                    f"{kind} is over its size limit: make it lighter or raise limits.{kind} in campaign.yaml",
                )
            )
