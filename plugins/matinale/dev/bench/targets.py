"""Issue 21's targets (the night at 1.5× its floor, memory flat in supporters), read from a report.

Each target is ``{id, what, limit, unit, value, met, why}`` like the older ones of
:func:`matinale.dev.bench.report.evaluate_targets`, which appends these: ``met`` is ``None``
when the report has no run that measures it (a 1M-only run says nothing of 3M or 10M), so a
README table rewritten from a partial run never claims a target it did not measure.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AIRFLOW_RATIO_TARGET",
    "BENCH_MINUTES_TARGET",
    "BUNDLE_MB_TARGET",
    "CHECKS_RATIO_TARGET",
    "HUGE_ROWS",
    "ISSUE21_TARGET_IDS",
    "LARGE_ROWS",
    "TARGET_ROWS",
    "PUBLISH_GIB_TARGET",
    "VISUALS_RATIO_TARGET",
    "issue21_targets",
    "run_at",
]

#: The sizes the targets speak of (issue 11's and issue 21's): the target night and the large one.
TARGET_ROWS = 1_000_000
LARGE_ROWS = 3_000_000
HUGE_ROWS = 10_000_000
AIRFLOW_RATIO_TARGET = 1.15
PUBLISH_GIB_TARGET = 1.5
CHECKS_RATIO_TARGET = 3.0
VISUALS_RATIO_TARGET = 2.0
BUNDLE_MB_TARGET = 600.0
BENCH_MINUTES_TARGET = 20.0
#: The ids of :func:`issue21_targets`, in order (a report's check expects them).
ISSUE21_TARGET_IDS = (
    "airflow_ratio",
    "publish_memory",
    "memory_growth",
    "checks_ratio",
    "visuals_ratio",
    "bundle_bytes",
    "huge_night",
    "bench_minutes",
)
#: The sizes ``make bench`` runs: its duration is a target only for a run of exactly these.
FULL_SIZES = (100_000, 1_000_000, 3_000_000)


def run_at(report: dict[str, Any], rows: int) -> dict[str, Any] | None:
    """The report's night of ``rows`` supporters, if it ran one."""
    return next((r for r in report.get("runs", []) if r["rows"] == rows), None)


def _stage(run: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    if run is None:
        return None
    found = next((s for s in run["stages"] if s["stage"] == name), None)
    return found if found is not None and found.get("ok") else None


def _target(ident: str, what: str, limit: float | None, unit: str | None) -> dict[str, Any]:
    return {"id": ident, "what": what, "limit": limit, "unit": unit}


def _unmeasured(target: dict[str, Any], why: str) -> dict[str, Any]:
    target.update(value=None, met=None, why=f"not measured: {why}")
    return target


def _at_most(target: dict[str, Any], value: float, why: str, *, places: int = 3) -> dict[str, Any]:
    """A measured target: met when ``value`` is at most its limit."""
    target.update(value=round(value, places), met=value <= target["limit"], why=why)
    return target


def _stage_ratio(report: dict[str, Any], name: str, limit: float) -> dict[str, Any]:
    target = _target(
        f"{name}_ratio", f"{name} at {TARGET_ROWS:,} rows ≤ {limit:g}× its floor", limit, "×"
    )
    stage = _stage(run_at(report, TARGET_ROWS), name)
    if stage is None or stage.get("ratio") is None:
        return _unmeasured(target, f"no {name} stage with a floor at {TARGET_ROWS:,} rows")
    floor = stage.get("floor") or {}
    value = float(stage["ratio"])
    return _at_most(
        target,
        value,
        f"{stage['seconds']:.1f} s vs its floor ({floor.get('what', '')}) {floor.get('seconds', 0):.2f} s: {value:.2f}×",
    )


def _airflow_ratio(report: dict[str, Any]) -> dict[str, Any]:
    target = _target(
        "airflow_ratio",
        f"the Airflow run ≤ {AIRFLOW_RATIO_TARGET}× the direct night at {TARGET_ROWS:,} rows",
        AIRFLOW_RATIO_TARGET,
        "×",
    )
    airflow = report.get("airflow") or {}
    if not airflow:
        return _unmeasured(target, "the Airflow run was not asked for (--no-airflow)")
    if not airflow.get("ok"):
        target.update(value=None, met=False, why=f"the Airflow run failed: {airflow.get('error')}")
        return target
    direct = airflow.get("direct_seconds")
    if airflow.get("rows") != TARGET_ROWS or not direct:
        return _unmeasured(target, f"no Airflow run and direct night at {TARGET_ROWS:,} rows")
    return _at_most(
        target,
        float(airflow["seconds"]) / float(direct),
        f"Airflow {airflow['seconds']:.1f} s vs direct {direct:.1f} s (imports excluded from both)",
    )


def _publish_memory(report: dict[str, Any]) -> dict[str, Any]:
    target = _target(
        "publish_memory",
        f"publish's peak memory ≤ {PUBLISH_GIB_TARGET} GiB at {LARGE_ROWS:,} rows",
        PUBLISH_GIB_TARGET,
        "GiB",
    )
    publish = _stage(run_at(report, LARGE_ROWS), "publish")
    if publish is None or not publish.get("peak_mib"):
        return _unmeasured(target, f"no publish stage at {LARGE_ROWS:,} rows")
    gib = float(publish["peak_mib"]) / 1024
    return _at_most(target, gib, f"{gib:.2f} GiB (its process and the workers it started)")


def _memory_growth(report: dict[str, Any]) -> dict[str, Any]:
    scaling = report.get("scaling") or {}
    limit = float(scaling.get("memory_mib_per_million_limit") or 1024.0)
    target = _target(
        "memory_growth",
        f"no stage's peak memory grows faster than its input or by more than {limit / 1024:g} GiB per million rows",
        limit / 1024,
        "GiB per million",
    )
    steps = [
        (stage["stage"], step)
        for stage in scaling.get("stages") or []
        for step in stage.get("steps") or []
        if step.get("memory_ratio") is not None
    ]
    if not steps:
        return _unmeasured(target, "fewer than two sizes")
    flagged = [(name, step) for name, step in steps if step.get("memory_flag")]
    steepest = max(steps, key=lambda item: item[1].get("mib_per_million_rows") or 0.0)
    per_million = float(steepest[1].get("mib_per_million_rows") or 0.0)
    if flagged:
        why = "; ".join(
            f"{name} {step['from_rows']:,}→{step['to_rows']:,}: {step.get('memory_note', '')}"
            for name, step in flagged
        )
    else:
        why = (
            f"steepest: {steepest[0]} {steepest[1]['from_rows']:,}→{steepest[1]['to_rows']:,}, "
            f"{per_million:+,.0f} MiB per million rows"
        )
    target.update(value=round(per_million / 1024, 3), met=not flagged, why=why)
    return target


def _bundle_bytes(report: dict[str, Any]) -> dict[str, Any]:
    target = _target(
        "bundle_bytes",
        f"the bundle ≤ {BUNDLE_MB_TARGET:.0f} MB for 200 segments and 3,000 cards",
        BUNDLE_MB_TARGET,
        "MB",
    )
    run = run_at(report, TARGET_ROWS)
    sizes = (run or {}).get("sizes") or {}
    if not sizes.get("bundle_bytes"):
        return _unmeasured(target, f"no bundle at {TARGET_ROWS:,} rows")
    mb = float(sizes["bundle_bytes"]) / 1e6
    shape = f"{sizes.get('segments')} segments, {sizes.get('cards')} cards"
    card_kb = float(sizes.get("card_bytes_mean") or 0) / 1e3
    return _at_most(
        target, mb, f"{mb:,.0f} MB ({shape}; a card {card_kb:.1f} KB on average)", places=1
    )


def _huge_night(report: dict[str, Any]) -> dict[str, Any]:
    target = _target("huge_night", f"{HUGE_ROWS:,} supporters complete every stage", None, None)
    huge = run_at(report, HUGE_ROWS)
    if huge is None:
        return _unmeasured(target, f"this run has no {HUGE_ROWS:,}-row night (make bench-10m)")
    if huge["ok"]:
        why = f"completed in {huge['direct_seconds']:.1f} s, peak {huge['peak_mib'] / 1024:.2f} GiB in {huge['peak_stage']}"
    else:
        failed: dict[str, Any] = next((s for s in huge["stages"] if not s.get("ok")), {})
        why = f"stage {failed.get('stage')} failed: {failed.get('error') or 'no error recorded'}"
    target.update(value=huge["ok"], met=huge["ok"], why=why)
    return target


def _bench_duration(report: dict[str, Any]) -> dict[str, Any]:
    target = _target(
        "bench_minutes",
        f"make bench (100k, 1M, 3M, Airflow, links, learning, territories) ≤ {BENCH_MINUTES_TARGET:.0f} min",
        BENCH_MINUTES_TARGET,
        "min",
    )
    sizes = tuple((report.get("setup") or {}).get("sizes") or ())
    if report.get("mode") != "full" or sizes != FULL_SIZES or not report.get("airflow"):
        return _unmeasured(target, "this was not a whole make bench")
    minutes = float(report.get("duration_seconds") or 0) / 60
    inputs = "generated" if _generated(report) else "from the cache"
    return _at_most(target, minutes, f"{minutes:.1f} min, inputs {inputs}", places=1)


def _generated(report: dict[str, Any]) -> bool:
    return any((item or {}).get("generated_seconds") for item in report.get("inputs") or [])


def issue21_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 21's targets: Airflow's ratio, publish's memory at 3M, memory growth, checks and
    visuals against their floors, the bundle's bytes, the 10M night and make bench's minutes."""
    return [
        _airflow_ratio(report),
        _publish_memory(report),
        _memory_growth(report),
        _stage_ratio(report, "checks", CHECKS_RATIO_TARGET),
        _stage_ratio(report, "visuals", VISUALS_RATIO_TARGET),
        _bundle_bytes(report),
        _huge_night(report),
        _bench_duration(report),
    ]
