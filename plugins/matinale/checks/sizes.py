"""The sizes check: every file under its kind's limit (``limits`` in campaign.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matinale.checks.report import CheckReport, Finding

__all__ = ["DEFAULT_LIMITS", "limits_from"]

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
) -> None:
    report.counts.setdefault("sizes", {"findings": 0})
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
