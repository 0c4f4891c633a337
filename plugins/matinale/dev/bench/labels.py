"""How the benchmark writes its numbers: sizes, throughputs, row counts, seconds, ratios, MiB."""

from __future__ import annotations

import math

__all__ = ["size_label", "throughput_label"]

_UNITS = {"rows": "rows/s", "posts": "posts/s", "cards": "cards/s", "bytes": "MB/s"}


def size_label(unit: str, amount: float | None) -> str:
    """``1,000,000 rows``, ``3,000 cards``, ``412.5 MB``."""
    if amount is None:
        return "—"
    if unit == "bytes":
        return f"{amount / 1e6:,.1f} MB"
    return f"{int(amount):,} {unit}"


def throughput_label(unit: str, value: float | None) -> str:
    """``102k rows/s``, ``171 cards/s``, ``38.2 MB/s``."""
    if value is None or not math.isfinite(value):
        return "—"
    label = _UNITS.get(unit, f"{unit}/s")
    if unit == "bytes":
        return f"{value / 1e6:,.1f} {label}"
    if value >= 10_000:
        return f"{value / 1000:,.0f}k {label}"
    return f"{value:,.0f} {label}"


def _rows(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}×"


def _mib(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"
