"""``make bench`` keeps working: the smoke mode runs the whole harness on 10,000 rows.

Real components throughout: each stage in its own process on generated supporters, a real
SeaweedFS started by the harness, the floors, and the night through Airflow's dag.test().
Nothing here asserts on time: the benchmark's numbers are its output, not a test.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from matinale.dev.bench.report import check_report

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NIGHT = ["prepare", "ingest", "privacy", "segment", "content", "visuals", "bundle", "publish"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("bench")
    command = [
        sys.executable,
        "-m",
        "matinale.dev.bench",
        "run",
        "--smoke",
        "--cache-dir",
        str(base / "cache"),
        "--results-dir",
        str(base / "results"),
    ]
    # The timeout only stops a hung run; how long it takes is not what is tested.
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    files = sorted((base / "results").glob("*-smoke.json"))
    assert len(files) == 1, files
    return {
        "base": base,
        "stdout": done.stdout,
        "text": files[0].read_text(encoding="utf-8"),
        "report": json.loads(files[0].read_text(encoding="utf-8")),
    }


def test_the_report_is_well_formed(smoke: dict) -> None:
    report = smoke["report"]

    assert check_report(report) == []
    assert report["mode"] == "smoke" and report["failures"] == []
    assert report["machine"]["cores"] >= 1 and report["machine"]["commit"]


def test_every_stage_is_measured_against_its_floor(smoke: dict) -> None:
    [run] = smoke["report"]["runs"]

    assert run["rows"] == 10_000 and run["ok"]
    names = [s["stage"] for s in run["stages"]]
    assert [n for n in names if n in NIGHT] == NIGHT
    for stage in run["stages"]:
        assert stage["ok"], stage
        assert stage["seconds"] > 0 and stage["peak_mib"] > 0 and stage["input"] > 0, stage
        assert stage["floor"]["what"] and stage["ratio"] > 0, stage
    visuals = next(s for s in run["stages"] if s["stage"] == "visuals")
    setup = smoke["report"]["setup"]["home"]
    assert 0 < run["sizes"]["cards"] == visuals["summary"]["cards"] <= setup["cards_expected"]
    assert run["sizes"]["posts"] > 0 and run["sizes"]["bundle_bytes"] > 0
    assert run["direct_seconds"] > 0 and run["ratio_to_floors"] > 0


def test_publish_floor_sends_every_byte_publish_sends(smoke: dict) -> None:
    # Publish writes the bundle and the private delivery file: a floor that left the
    # delivery file out would flatter nothing but would blame publish for work it must do.
    [run] = smoke["report"]["runs"]
    publish = next(s for s in run["stages"] if s["stage"] == "publish")
    floor, delivery = publish["floor"], publish["summary"]["delivery"]

    assert floor["files"] == run["sizes"]["bundle_files"]
    assert delivery["rows"] > 0 and floor["delivery_bytes"] == delivery["bytes"]
    total = floor["bundle_seconds"] + floor["delivery_seconds"]
    assert floor["seconds"] == pytest.approx(total, abs=1e-3)  # the report rounds it
    assert f"{delivery['rows']:,} rows" in floor["what"]


def test_the_airflow_run_is_reported_beside_the_direct_one(smoke: dict) -> None:
    airflow = smoke["report"]["airflow"]

    assert airflow["ok"] and airflow["rows"] == 10_000
    assert {"prepare", "ingest", "segment", "visuals", "publish"} <= set(airflow["by_task"])
    direct = {s["stage"]: s["seconds"] for s in smoke["report"]["runs"][0]["stages"]}
    assert airflow["direct_seconds"] == pytest.approx(
        sum(seconds for stage, seconds in direct.items() if stage in airflow["by_task"]), abs=0.01
    )
    assert airflow["overhead_seconds"] is not None
    # The Execution API was running before the clock, and dag.test()'s tasks talked to it.
    assert airflow["api_ready"] is True and airflow["api_shared"] is True
    assert airflow["api_start_seconds"] > 0
    targets = {t["id"]: t for t in smoke["report"]["targets"]}
    assert targets["airflow_run"]["met"] is True
    assert targets["direct_night"]["met"] is None  # 1M rows are not part of the smoke run


def test_the_table_is_printed_and_the_workspace_cleaned(smoke: dict) -> None:
    stdout = smoke["stdout"]

    for word in ("stage", "throughput", "peak MiB", "ratio", "Targets:", *NIGHT):
        assert word in stdout
    assert not any((smoke["base"] / "cache" / "work").iterdir())
    assert (smoke["base"] / "cache" / "supporters-10000-42.csv").is_file()  # inputs stay cached


def test_no_supporter_data_in_the_results(smoke: dict) -> None:
    with (smoke["base"] / "cache" / "supporters-10000-42.csv").open(
        encoding="utf-8", newline=""
    ) as handle:
        people = [row for _, row in zip(range(200), csv.DictReader(handle), strict=False)]
    values = {
        row[key]
        for row in people
        for key in ("supporter_id", "email", "phone")
        if len(row[key]) > 5
    }

    leaked = sorted(value for value in values if value in smoke["text"] or value in smoke["stdout"])
    assert not leaked, leaked[:5]
