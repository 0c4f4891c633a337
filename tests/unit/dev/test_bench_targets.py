"""Issue 21's targets read from made-up bench reports: met, missed with the figure, or not measured."""

from __future__ import annotations

from typing import Any

from matinale.dev.bench import report as reporting
from matinale.dev.bench.targets import ISSUE21_TARGET_IDS, issue21_targets


def _stage(
    name: str, seconds: float, *, floor: float | None = None, peak: float = 500.0
) -> dict[str, Any]:
    stage: dict[str, Any] = {
        "stage": name,
        "ok": True,
        "unit": "rows",
        "seconds": seconds,
        "peak_mib": peak,
        "input": 1.0,
        "grows_with": {"rows": 1.0},
    }
    if floor is not None:
        stage["floor"] = {"seconds": floor, "what": f"the {name} floor"}
        stage["ratio"] = seconds / floor
    return stage


def _run(
    rows: int,
    *,
    checks: float = 6.0,
    visuals: float = 10.0,
    publish_mib: float = 900.0,
    bundle_mb: float = 550.0,
    ok: bool = True,
) -> dict[str, Any]:
    millions = rows / 1_000_000
    stages = [
        _stage("ingest", 5.0 * millions, peak=300.0 * millions + 100.0),
        _stage("checks", checks, floor=2.0),
        _stage("visuals", visuals, floor=5.5),
        _stage("publish", 20.0, floor=15.0, peak=publish_mib),
    ]
    for stage in stages:
        stage["grows_with"] = {"rows": float(rows)}
    if not ok:
        stages[0] = {"stage": "ingest", "ok": False, "unit": "rows", "error": "MemoryError: boom"}
    return {
        "rows": rows,
        "ok": ok,
        "stages": stages,
        "direct_seconds": sum(s.get("seconds", 0.0) for s in stages),
        "peak_mib": max(s.get("peak_mib", 0.0) for s in stages),
        "peak_stage": "publish",
        "sizes": {
            "segments": 200,
            "cards": 3000,
            "bundle_bytes": int(bundle_mb * 1e6),
            "card_bytes_mean": 80_000,
        },
    }


def _report(
    runs: list[dict[str, Any]],
    *,
    airflow_seconds: float | None = None,
    minutes: float = 15.0,
    sizes: tuple[int, ...] = (100_000, 1_000_000, 3_000_000),
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "mode": "full",
        "setup": {"sizes": list(sizes)},
        "runs": runs,
        "duration_seconds": minutes * 60,
        "inputs": [{"rows": r["rows"], "generated_seconds": None} for r in runs],
    }
    one = next((r for r in runs if r["rows"] == 1_000_000), None)
    if airflow_seconds is not None and one is not None:
        report["airflow"] = {
            "ok": True,
            "rows": 1_000_000,
            "seconds": airflow_seconds,
            "direct_seconds": one["direct_seconds"],
        }
    report["scaling"] = reporting.scaling(runs)
    return report


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in issue21_targets(report)}


def test_a_whole_bench_that_meets_every_target_says_so_with_its_figures() -> None:
    runs = [_run(100_000), _run(1_000_000), _run(3_000_000), _run(10_000_000)]
    direct = runs[1]["direct_seconds"]
    targets = _by_id(_report(runs, airflow_seconds=direct * 1.1))

    assert {t: v["met"] for t, v in targets.items()} == dict.fromkeys(targets, True)
    assert targets["airflow_ratio"]["value"] == 1.1
    assert targets["publish_memory"]["value"] == round(900 / 1024, 3)
    assert targets["checks_ratio"]["value"] == 3.0 and targets["visuals_ratio"]["value"] < 2
    assert (
        targets["bundle_bytes"]["value"] == 550.0
        and "200 segments" in targets["bundle_bytes"]["why"]
    )
    assert targets["bench_minutes"]["value"] == 15.0
    # ingest grows by 300 MiB per million rows: the steepest, and named.
    assert (
        "ingest" in targets["memory_growth"]["why"]
        and "+300 MiB" in targets["memory_growth"]["why"]
    )


def test_each_missed_target_gives_the_figure_that_missed() -> None:
    runs = [
        _run(100_000),
        _run(1_000_000, checks=7.3, visuals=11.6, bundle_mb=807.0),
        _run(3_000_000, publish_mib=2400.0),
        _run(10_000_000, ok=False),
    ]
    runs[2]["stages"][0]["peak_mib"] = 4000.0  # ingest: +1.9 GiB per million from 1M to 3M
    direct = runs[1]["direct_seconds"]
    targets = _by_id(_report(runs, airflow_seconds=direct * 1.3, minutes=26.0))

    assert {t: v["met"] for t, v in targets.items()} == dict.fromkeys(targets, False)
    assert targets["checks_ratio"]["value"] == 3.65
    assert targets["visuals_ratio"]["value"] > 2.0
    assert targets["publish_memory"]["value"] == round(2400 / 1024, 3)
    assert targets["bundle_bytes"]["why"].startswith("807 MB")
    assert "ingest 1,000,000→3,000,000" in targets["memory_growth"]["why"]
    assert "MemoryError" in targets["huge_night"]["why"]
    assert targets["bench_minutes"]["value"] == 26.0


def test_a_partial_run_claims_nothing_it_did_not_measure() -> None:
    targets = _by_id(_report([_run(1_000_000)], sizes=(1_000_000,)))

    unmeasured = {t for t, v in targets.items() if v["met"] is None}
    assert unmeasured == {
        "airflow_ratio",
        "publish_memory",
        "memory_growth",
        "huge_night",
        "bench_minutes",
    }
    assert all(targets[t]["why"].startswith("not measured") for t in unmeasured)
    assert targets["checks_ratio"]["met"] is True and targets["bundle_bytes"]["met"] is True


def test_the_report_lists_issue_21_after_issue_11() -> None:
    report = _report([_run(1_000_000)], sizes=(1_000_000,))
    report.update(airflow={}, setup={"sizes": [1_000_000]})

    ids = [t["id"] for t in reporting.evaluate_targets(report)]

    assert ids[:5] == ["direct_night", "airflow_run", "floor_ratio", "memory", "large_night"]
    assert ids[5:] == [t["id"] for t in issue21_targets(report)] == list(ISSUE21_TARGET_IDS)
