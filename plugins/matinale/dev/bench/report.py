"""Reading the measures: scaling flags, the issue's targets and the report's schema check.

Everything here is a pure function of the report dictionary the harness builds, so it is
tested on made-up numbers; :mod:`matinale.dev.bench.render` draws the tables.
"""

from __future__ import annotations

import math
from typing import Any

from matinale.dev.bench.labels import size_label, throughput_label
from matinale.dev.bench.targets import (
    ISSUE21_TARGET_IDS,
    LARGE_ROWS,
    TARGET_ROWS,
    issue21_targets,
)
from matinale.dev.bench.targets import run_at as _run_at

__all__ = [
    "FLOOR_RATIO_TARGET",
    "GROWTH_EXPONENT_LIMIT",
    "MEMORY_TARGET_GIB",
    "SCHEMA",
    "TARGET_ROWS",
    "TARGET_SECONDS",
    "check_report",
    "evaluate_targets",
    "scaling",
    "scaling_step",
    "size_label",
    "throughput_label",
]

SCHEMA = "matinale.bench/1"
TARGET_SECONDS = 35.0
FLOOR_RATIO_TARGET = 1.5
MEMORY_TARGET_GIB = 4.0
#: Time may grow like input ** 1.15 before a stage is flagged: 15 % room for a shared machine's noise.
GROWTH_EXPONENT_LIMIT = 1.15
# Below these, growth is noise: a stage must also gain this many seconds to be flagged.
_MIN_GROWTH_SECONDS = 0.5
_SAME_INPUT = 1.2  # input ratios below this count as "the same input"
_SAME_INPUT_TIME_RATIO = 1.25
_SAME_INPUT_MIN_SECONDS = 1.0
#: Peak memory per unit of input may grow by a quarter from one size to the next (a stage
#: whose memory grows faster than its input is flagged, with the figure)…
MEMORY_GROWTH_LIMIT = 1.25
#: …and never by more than 1 GiB per million supporters (issue 21 item 2).
MEMORY_MIB_PER_MILLION_LIMIT = 1024.0
_MIN_MEMORY_GAIN_MIB = 64.0  # below this, a peak's growth is noise


# -- scaling ----------------------------------------------------------------------------


def scaling_step(input0: float, input1: float, seconds0: float, seconds1: float) -> dict[str, Any]:
    """How a stage's time grew from one size to the next, and whether that is faster than its input.

    With a growing input, time ∝ input ** exponent; the step is flagged when the exponent
    exceeds ``GROWTH_EXPONENT_LIMIT`` and the stage gained at least half a second. With the
    same input (cards do not grow with supporters), it is flagged when time grew by a
    quarter and at least a second.
    """
    input_ratio = input1 / input0 if input0 > 0 else math.inf
    time_ratio = seconds1 / seconds0 if seconds0 > 0 else math.inf
    gained = seconds1 - seconds0
    step: dict[str, Any] = {
        "input_ratio": round(input_ratio, 3),
        "time_ratio": round(time_ratio, 3),
        "exponent": None,
    }
    if (
        input_ratio >= _SAME_INPUT
        and math.isfinite(input_ratio)
        and math.isfinite(time_ratio)
        and time_ratio > 0
    ):
        exponent = math.log(time_ratio) / math.log(input_ratio)
        step["exponent"] = round(exponent, 3)
        step["flag"] = exponent > GROWTH_EXPONENT_LIMIT and gained > _MIN_GROWTH_SECONDS
        if step["flag"]:
            step["note"] = (
                f"time ×{time_ratio:.1f} for input ×{input_ratio:.1f} (grows like input^{exponent:.2f})"
            )
    else:
        step["flag"] = time_ratio > _SAME_INPUT_TIME_RATIO and gained > _SAME_INPUT_MIN_SECONDS
        if step["flag"]:
            step["note"] = (
                f"time ×{time_ratio:.1f} while its input stayed about the same (×{input_ratio:.2f})"
            )
    return step


def memory_step(
    rows0: int, rows1: int, input_ratio: float, mib0: float | None, mib1: float | None
) -> dict[str, Any]:
    """How a stage's peak memory grew from one size to the next: its ratio, per unit of input
    (``memory_per_input``: the ratio divided by the input's) and in MiB per million
    supporters; flagged when it grew faster than the input (per-input ratio over
    ``MEMORY_GROWTH_LIMIT``) or by more than ``MEMORY_MIB_PER_MILLION_LIMIT``, and by at least
    64 MiB either way."""
    if not mib0 or not mib1 or rows1 <= rows0:
        return {"memory_ratio": None, "memory_flag": False}
    ratio = mib1 / mib0
    per_input = ratio / input_ratio if input_ratio > 0 and math.isfinite(input_ratio) else ratio
    per_million = (mib1 - mib0) / ((rows1 - rows0) / 1_000_000)
    faster = per_input > MEMORY_GROWTH_LIMIT or per_million > MEMORY_MIB_PER_MILLION_LIMIT
    step: dict[str, Any] = {
        "memory_ratio": round(ratio, 3),
        "memory_per_input": round(per_input, 3),
        "mib_per_million_rows": round(per_million, 1),
        "memory_flag": faster and mib1 - mib0 >= _MIN_MEMORY_GAIN_MIB,
    }
    if step["memory_flag"]:
        step["memory_note"] = (
            f"peak memory ×{ratio:.2f} for input ×{input_ratio:.1f} "
            f"(×{per_input:.2f} per input, {per_million:+,.0f} MiB per million rows)"
        )
    return step


def scaling(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage: seconds and peak memory at each size, each step's growth, and the flags."""
    ordered = sorted((r for r in runs), key=lambda r: r["rows"])
    names: list[str] = []
    for run in ordered:
        names.extend(s["stage"] for s in run["stages"] if s["stage"] not in names)
    stages = []
    for name in names:
        points = []
        for run in ordered:
            stage = next((s for s in run["stages"] if s["stage"] == name), None)
            if stage is None or not stage.get("ok"):
                continue
            grows_with = stage.get("grows_with") or {stage.get("unit", "input"): stage.get("input")}
            points.append(
                {
                    "rows": run["rows"],
                    "input": stage.get("input"),
                    "grows_with": grows_with,
                    "seconds": stage["seconds"],
                    "peak_mib": stage.get("peak_mib"),
                }
            )
        steps = []
        for before, after in zip(points, points[1:], strict=False):
            ratios = {
                key: float(after["grows_with"][key]) / float(value)
                for key, value in before["grows_with"].items()
                if value and after["grows_with"].get(key)
            }
            if not ratios:
                continue
            # Its input grows as fast as the fastest-growing thing it reads.
            key = max(ratios, key=lambda k: ratios[k])
            step = scaling_step(
                float(before["grows_with"][key]),
                float(after["grows_with"][key]),
                before["seconds"],
                after["seconds"],
            )
            memory = memory_step(
                before["rows"],
                after["rows"],
                step["input_ratio"],
                before.get("peak_mib"),
                after.get("peak_mib"),
            )
            steps.append(
                {
                    "from_rows": before["rows"],
                    "to_rows": after["rows"],
                    "input": key,
                    **step,
                    **memory,
                }
            )
        stages.append(
            {
                "stage": name,
                "points": points,
                "steps": steps,
                "flagged": any(s["flag"] for s in steps),
                "memory_flagged": any(s.get("memory_flag") for s in steps),
            }
        )
    return {
        "exponent_limit": GROWTH_EXPONENT_LIMIT,
        "memory_limit": MEMORY_GROWTH_LIMIT,
        "memory_mib_per_million_limit": MEMORY_MIB_PER_MILLION_LIMIT,
        "stages": stages,
    }


# -- targets ----------------------------------------------------------------------------


def _failure(run: dict[str, Any]) -> str:
    failed = [s for s in run["stages"] if not s.get("ok")]
    if not failed:
        return ""
    first = failed[0]
    return f"stage {first['stage']} failed: {first.get('error') or 'no error recorded'}"


def _stage_line(stage: dict[str, Any]) -> str:
    floor = stage.get("floor") or {}
    if stage.get("ratio") is not None:
        return f"{stage['stage']} {stage['seconds']:.1f} s ({stage['ratio']:.1f}× its floor, {floor.get('what', '')}: {floor.get('seconds', 0):.2f} s)"
    return f"{stage['stage']} {stage['seconds']:.1f} s (no floor)"


def _not_measured(what: str, rows: int) -> str:
    return f"not measured: this run has no {rows:,}-row night ({what})"


def evaluate_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issues' targets (11's, then 21's), each met, missed (with which stage and why) or not
    measured."""
    targets: list[dict[str, Any]] = []
    run = _run_at(report, TARGET_ROWS)
    ok_stages = [s for s in run["stages"] if s.get("ok")] if run else []

    direct: dict[str, Any] = {
        "id": "direct_night",
        "what": f"{TARGET_ROWS:,} supporters and every stage, called directly, ≤ {TARGET_SECONDS:.0f} s",
        "limit": TARGET_SECONDS,
        "unit": "s",
    }
    if run is None:
        direct.update(value=None, met=None, why=_not_measured("direct night", TARGET_ROWS))
    elif not run["ok"]:
        direct.update(value=run.get("direct_seconds"), met=False, why=_failure(run))
    else:
        value = run["direct_seconds"]
        slowest = sorted(ok_stages, key=lambda s: -s["seconds"])[:3]
        cards = (run.get("sizes") or {}).get("cards")
        note = f" with {cards:,} cards" if cards is not None else ""
        if value <= TARGET_SECONDS:
            why = f"{value:.1f} s{note}; slowest: " + "; ".join(_stage_line(s) for s in slowest)
        else:
            why = f"{value - TARGET_SECONDS:.1f} s over{note}; slowest: " + "; ".join(
                _stage_line(s) for s in slowest
            )
        direct.update(value=round(value, 2), met=value <= TARGET_SECONDS, why=why)
    targets.append(direct)

    airflow = report.get("airflow") or {}
    through: dict[str, Any] = {
        "id": "airflow_run",
        "what": "the same night as one Airflow run (dag.test()), reported beside the direct one",
        "limit": None,
        "unit": "s",
    }
    if not airflow:
        through.update(
            value=None,
            met=None,
            why="not measured: the Airflow run was not asked for (--no-airflow)",
        )
    elif not airflow.get("ok"):
        through.update(
            value=airflow.get("seconds"),
            met=False,
            why=f"the Airflow run failed: {airflow.get('error')}",
        )
    else:
        overhead = airflow.get("overhead_seconds")
        if overhead is None:
            why = f"Airflow {airflow['seconds']:.1f} s at {airflow['rows']:,} rows (no direct night of that size to compare with)"
        else:
            why = (
                f"Airflow {airflow['seconds']:.1f} s at {airflow['rows']:,} rows vs direct {airflow['direct_seconds']:.1f} s "
                f"(imports excluded from both): Airflow's own overhead ≈ {overhead:.1f} s ({overhead / airflow['seconds']:.0%})"
            )
        through.update(value=round(airflow["seconds"], 2), met=True, why=why)
    targets.append(through)

    ratio: dict[str, Any] = {
        "id": "floor_ratio",
        "what": f"time at {TARGET_ROWS:,} rows / sum of the stages' floors, aim ≤ {FLOOR_RATIO_TARGET}×",
        "limit": FLOOR_RATIO_TARGET,
        "unit": "×",
    }
    if run is None or run.get("ratio_to_floors") is None:
        ratio.update(
            value=None,
            met=None,
            why=_not_measured("floors", TARGET_ROWS) if run is None else "no floor was measured",
        )
    else:
        value = run["ratio_to_floors"]
        with_floor = [s for s in ok_stages if s.get("floor")]
        furthest = sorted(with_floor, key=lambda s: -(s["seconds"] - s["floor"]["seconds"]))[:3]
        lost = "; ".join(
            f"{s['stage']} loses {s['seconds'] - s['floor']['seconds']:.1f} s ({_stage_line(s)})"
            for s in furthest
        )
        why = f"{value:.2f}× ({run['direct_seconds']:.1f} s vs floors {run['floor_seconds']:.1f} s); furthest from their floor: {lost}"
        ratio.update(value=round(value, 3), met=value <= FLOOR_RATIO_TARGET, why=why)
    targets.append(ratio)

    memory: dict[str, Any] = {
        "id": "memory",
        "what": f"peak memory < {MEMORY_TARGET_GIB:.0f} GiB at {TARGET_ROWS:,} rows",
        "limit": MEMORY_TARGET_GIB,
        "unit": "GiB",
    }
    if run is None or not ok_stages:
        memory.update(
            value=None,
            met=None,
            why=_not_measured("memory", TARGET_ROWS) if run is None else _failure(run),
        )
    else:
        top = max(ok_stages, key=lambda s: s.get("peak_mib") or 0)
        gib = (top.get("peak_mib") or 0) / 1024
        memory.update(
            value=round(gib, 3),
            met=gib < MEMORY_TARGET_GIB and run["ok"],
            why=f"highest in {top['stage']}: {gib:.2f} GiB (its process and any workers it started)",
        )
    targets.append(memory)

    large = _run_at(report, LARGE_ROWS)
    completes: dict[str, Any] = {
        "id": "large_night",
        "what": f"{LARGE_ROWS:,} supporters complete every stage",
        "limit": None,
        "unit": None,
    }
    if large is None:
        completes.update(value=None, met=None, why=_not_measured("large night", LARGE_ROWS))
    else:
        completes.update(
            value=large["ok"],
            met=large["ok"],
            why=f"completed in {large['direct_seconds']:.1f} s, peak {large['peak_mib'] / 1024:.2f} GiB in {large['peak_stage']}"
            if large["ok"]
            else _failure(large),
        )
    targets.append(completes)
    return targets + issue21_targets(report)


# -- checking a report -------------------------------------------------------------------

_RUN_KEYS = {"rows": int, "ok": bool, "stages": list, "direct_seconds": float, "sizes": dict}
_STAGE_KEYS = {"stage": str, "ok": bool, "unit": str}
_MEASURED_KEYS = ("seconds", "cpu_seconds", "peak_mib", "input", "throughput")


def check_report(report: dict[str, Any]) -> list[str]:
    """What is wrong with a report's shape (an empty list when it is well formed)."""
    problems: list[str] = []

    def need(where: str, value: Any, kinds: type | tuple[type, ...]) -> bool:
        if kinds is float:
            kinds = (int, float)
        if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
            problems.append(f"{where}: expected {kinds}, got {type(value).__name__}")
            return False
        return True

    if report.get("schema") != SCHEMA:
        problems.append(f"schema: expected {SCHEMA!r}, got {report.get('schema')!r}")
    for key in ("machine", "setup", "scaling", "imports"):
        need(key, report.get(key), dict)
    for key in ("started_at", "finished_at", "mode"):
        need(key, report.get(key), str)
    runs = report.get("runs")
    if need("runs", runs, list) and not runs:
        problems.append("runs: empty")
    for index, run in enumerate(runs or []):
        where = f"runs[{index}]"
        for key, kind in _RUN_KEYS.items():
            need(f"{where}.{key}", run.get(key), kind)
        for position, stage in enumerate(run.get("stages") or []):
            spot = f"{where}.stages[{position}]"
            for key, kind in _STAGE_KEYS.items():
                need(f"{spot}.{key}", stage.get(key), kind)
            if stage.get("ok"):
                for key in _MEASURED_KEYS:
                    if need(f"{spot}.{key}", stage.get(key), float) and stage[key] < 0:
                        problems.append(f"{spot}.{key}: negative")
                floor = stage.get("floor")
                if floor is not None and need(f"{spot}.floor.seconds", floor.get("seconds"), float):
                    need(f"{spot}.ratio", stage.get("ratio"), float)
            else:
                need(f"{spot}.error", stage.get("error"), str)
    targets = report.get("targets")
    if need("targets", targets, list) and isinstance(targets, list):
        ids = [t.get("id") for t in targets]
        expected = [
            "direct_night",
            "airflow_run",
            "floor_ratio",
            "memory",
            "large_night",
            *ISSUE21_TARGET_IDS,
        ]
        if ids != expected:
            problems.append(f"targets: expected ids {expected}, got {ids}")
        for target in targets:
            if target.get("met") not in (True, False, None) or not isinstance(
                target.get("why"), str
            ):
                problems.append(
                    f"targets.{target.get('id')}: needs met (true/false/null) and why (text)"
                )
    return problems
