"""The benchmark's own logic: bench settings, scaling flags, targets, report shape, README.

The harness itself (processes, S3, Airflow) runs in tests/bench/test_bench_smoke.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from matinale.dev.bench import render
from matinale.dev.bench import report as reporting
from matinale.dev.bench.child import counts_only
from matinale.dev.bench.probe import run_child
from matinale.dev.bench.workspace import (
    BENCH_EDITION,
    bench_brief,
    fill_inbox,
    make_home,
    split_bands,
)

ROOT = Path(__file__).resolve().parents[3]
REAL_BANDS = [
    {"id": "18-24", "label": "18–24 ans", "min": 18, "max": 24, "framing": "mobiliser"},
    {"id": "25-34", "label": "25–34 ans", "min": 25, "max": 34, "framing": "quotidien"},
    {"id": "35-49", "label": "35–49 ans", "min": 35, "max": 49, "framing": "familles"},
    {"id": "50-64", "label": "50–64 ans", "min": 50, "max": 64, "framing": "travail"},
    {"id": "65plus", "label": "65 ans et +", "min": 65, "max": 120, "framing": "devoir-civique"},
]


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- bench settings ----------------------------------------------------------------------


def test_split_bands_covers_every_age_once_and_keeps_framing() -> None:
    bands = split_bands(REAL_BANDS, 8)

    assert len(bands) == 8
    assert bands[0]["min"] == 18 and bands[-1]["max"] == 120
    for before, after in zip(bands, bands[1:], strict=False):
        assert after["min"] == before["max"] + 1, (before, after)
    by_parent = {b["id"]: b for b in REAL_BANDS}
    for band in bands:
        assert band["framing"] == by_parent[band["parent"]]["framing"]
        assert band["min"] <= band["max"]
    assert len({b["id"] for b in bands}) == 8
    assert bands[-1]["id"].endswith("plus")


def test_split_bands_keeps_the_bands_when_no_split_is_needed() -> None:
    assert [b["id"] for b in split_bands(REAL_BANDS, 5)] == [b["id"] for b in REAL_BANDS]


def test_bench_home_gives_200_segments_and_5_themes_without_touching_the_project(
    tmp_path: Path,
) -> None:
    from matinale.content import load_brief
    from matinale.segment import load_age_bands, load_profiles

    before = _digest(ROOT / "segments") | _digest(ROOT / "content_templates")
    home = make_home(ROOT, tmp_path / "home", segments=200, themes=5)

    assert _digest(ROOT / "segments") | _digest(ROOT / "content_templates") == before
    bands = load_age_bands(home.path / "segments" / "age_bands.yaml")
    profiles = load_profiles(home.path / "segments" / "profiles.yaml")
    clusters = profiles.clusters if isinstance(profiles.clusters, int) else profiles.clusters[1]
    assert len(bands) * clusters == 200 == home.segments
    assert clusters <= 30  # what every segment definition accepts
    assert home.cards_expected == 200 * 5 * len(home.card_formats)

    inbox = fill_inbox(tmp_path / "var", home, ROOT / "campaign.yaml")
    brief = load_brief(inbox / "briefs" / f"{BENCH_EDITION.isoformat()}.yaml", BENCH_EDITION)
    assert [t.id for t in brief.themes] == list(home.themes)
    assert len(set(home.themes)) == 5
    assert set(brief.framing) <= {b.id for b in bands}
    # Finer bands hear their parent band's texts; the similarity check does not stop the night.
    sample = load_brief(ROOT / "content_templates" / "sample_brief.yaml")
    first = sample.themes[0]  # its texts are per real band: 18-24 … 65plus
    assert set(brief.themes[0].bands) == {b.id for b in bands}  # every finer band has some
    real = load_age_bands(ROOT / "segments" / "age_bands.yaml")
    for band in bands:
        parent = next(r.id for r in real if r.min <= band.min <= r.max)
        assert brief.themes[0].bands[band.id] == first.bands[parent], band.id
    campaign = yaml.safe_load((home.path / "campaign.yaml").read_text(encoding="utf-8"))
    assert campaign["content"]["max_close_share"] == 1.0
    assert (inbox / "supporters" / "campaign.yaml").resolve() == (ROOT / "campaign.yaml").resolve()


def test_bench_brief_extends_themes_in_the_shape_of_the_first() -> None:
    sample = yaml.safe_load(
        (ROOT / "content_templates" / "sample_brief.yaml").read_text(encoding="utf-8")
    )
    brief = bench_brief(sample, edition=BENCH_EDITION, themes=5, bands=split_bands(REAL_BANDS, 5))

    first = sample["themes"][0]
    assert brief["themes"][: len(sample["themes"])] == sample["themes"][:5]
    for theme in brief["themes"][len(sample["themes"]) :]:
        assert set(theme) == set(first), theme["id"]
        assert isinstance(theme["call_to_action"], type(first["call_to_action"]))
        assert len(theme["title"]) <= 80
    assert brief["edition"] == BENCH_EDITION
    with pytest.raises(RuntimeError, match="at most"):
        bench_brief(sample, edition=BENCH_EDITION, themes=50, bands=REAL_BANDS)


# -- summaries leave no text -------------------------------------------------------------


def test_counts_only_keeps_numbers_and_drops_text() -> None:
    summary = {
        "files": 12,
        "bytes": 3.5,
        "ok": True,
        "presigned_url": "https://s3/x?X-Amz-Signature=abc",
        "delivery": {"by_channel": {"sms": 3}, "key": "private/x.csv"},
        "ids": ["S001"],
    }

    assert counts_only(summary) == {
        "files": 12,
        "bytes": 3.5,
        "ok": True,
        "delivery": {"by_channel": {"sms": 3}},
    }


# -- scaling -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "seconds", "flag"),
    [
        ((100_000, 1_000_000), (1.0, 9.0), False),  # linear with a fixed part
        ((1_000_000, 3_000_000), (9.0, 28.0), False),  # linear within noise
        ((100_000, 1_000_000), (1.0, 40.0), True),  # ×40 for ×10
        ((1_000_000, 3_000_000), (9.0, 60.0), True),  # quadratic-ish
        ((3000, 3000), (10.0, 10.4), False),  # same cards, same time
        ((3000, 3000), (10.0, 16.0), True),  # same cards, much slower
        ((3000, 2990), (0.2, 0.5), False),  # noise on a tiny stage
        ((100_000, 1_000_000), (0.01, 0.4), False),  # grows fast but gains under half a second
    ],
)
def test_scaling_step_flags_time_growing_faster_than_input(
    inputs: tuple[int, int], seconds: tuple[float, float], flag: bool
) -> None:
    step = reporting.scaling_step(float(inputs[0]), float(inputs[1]), *seconds)
    assert step["flag"] is flag
    if flag:
        assert "×" in step["note"]


def _stage(
    name: str,
    seconds: float,
    *,
    unit: str = "rows",
    amount: float = 1.0,
    floor: float | None = None,
    peak: float = 500.0,
    rows: int | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "stage": name,
        "ok": True,
        "unit": unit,
        "seconds": seconds,
        "cpu_seconds": seconds,
        "peak_mib": peak,
        "input": amount,
        "throughput": amount / seconds,
        "size_label": reporting.size_label(unit, amount),
        "grows_with": {unit: amount, **({"rows": rows} if rows else {})},
    }
    if floor is not None:
        record["floor"] = {"seconds": floor, "what": f"bare {name}"}
        record["ratio"] = seconds / floor
    return record


def _run(
    rows: int, scale: float = 1.0, *, visuals: float = 12.0, peak: float = 900.0
) -> dict[str, Any]:
    stages = [
        _stage("ingest", 8.0 * scale, amount=rows, floor=0.6 * scale, peak=peak),
        _stage("segment", 3.0 * scale, amount=rows, floor=2.0 * scale),
        _stage("visuals", visuals, unit="cards", amount=3000, floor=6.0),
        _stage(
            "publish", 4.0 * max(1.0, scale / 3), unit="bytes", amount=3e8, floor=3.0, rows=rows
        ),  # the delivery file grows with rows
    ]
    direct = sum(s["seconds"] for s in stages)
    floors = sum(s["floor"]["seconds"] for s in stages)
    return {
        "rows": rows,
        "ok": True,
        "stages": stages,
        "direct_seconds": direct,
        "floor_seconds": floors,
        "ratio_to_floors": direct / floors,
        "peak_mib": peak,
        "peak_stage": "ingest",
        "sizes": {"cards": 3000},
    }


def _report(runs: list[dict[str, Any]], airflow: dict[str, Any] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {
        "schema": reporting.SCHEMA,
        "mode": "full",
        "started_at": "2026-11-23T10:00:00+00:00",
        "finished_at": "2026-11-23T10:09:00+00:00",
        "duration_seconds": 540.0,
        "machine": {
            "cpu": "Test CPU",
            "cores": 2,
            "memory_gib": 8.0,
            "os": "Linux",
            "python": "3.11",
            "commit": "abc",
        },
        "setup": {
            "home": {
                "bands": ["a"] * 8,
                "clusters": 25,
                "segments_asked": 200,
                "themes": ["t"] * 5,
                "card_formats": ["square"],
            },
            "edition": "2026-11-24",
        },
        "imports": {"seconds": 4.0, "modules": {}},
        "runs": runs,
        "airflow": airflow or {},
    }
    report["scaling"] = reporting.scaling(runs)
    report["targets"] = reporting.evaluate_targets(report)
    return report


def test_scaling_flags_only_the_stage_that_grows_too_fast() -> None:
    runs = [_run(100_000, 1.0), _run(1_000_000, 10.0), _run(3_000_000, 30.0)]
    runs[2]["stages"][1]["seconds"] = 300.0  # segment: ×10 for ×3 rows

    result = reporting.scaling(runs)

    flagged = {s["stage"] for s in result["stages"] if s["flagged"]}
    assert flagged == {"segment"}  # publish grows too, but with the rows it reads, not faster
    publish = next(s for s in result["stages"] if s["stage"] == "publish")
    assert [step["input"] for step in publish["steps"]] == ["rows", "rows"]
    ingest = next(s for s in result["stages"] if s["stage"] == "ingest")
    assert [p["rows"] for p in ingest["points"]] == [100_000, 1_000_000, 3_000_000]
    assert math.isclose(ingest["steps"][0]["exponent"], 1.0, abs_tol=1e-3)


# -- targets -----------------------------------------------------------------------------


def _airflow_run(direct: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A successful 30-second Airflow run at 1M compared with the direct night ``direct``."""
    return {
        "ok": True,
        "rows": 1_000_000,
        "seconds": 30.0,
        "direct_seconds": direct["direct_seconds"],
        "overhead_seconds": 30.0 - direct["direct_seconds"],
        **extra,
    }


def test_targets_met_name_the_numbers() -> None:
    runs = [_run(100_000, 0.1), _run(1_000_000, 0.2, visuals=6.5), _run(3_000_000, 0.6)]
    airflow = _airflow_run(runs[1])
    targets = {t["id"]: t for t in _report(runs, airflow)["targets"]}

    assert targets["direct_night"]["met"] is True
    assert targets["airflow_run"]["met"] is True and "overhead" in targets["airflow_run"]["why"]
    assert targets["memory"]["met"] is True
    assert targets["large_night"]["met"] is True


def test_targets_missed_say_which_stage_and_why() -> None:
    slow = _run(1_000_000, 10.0, visuals=30.0, peak=5000.0)
    broken = _run(3_000_000, 30.0)
    broken["ok"] = False
    broken["stages"][1] = {
        "stage": "segment",
        "ok": False,
        "unit": "rows",
        "error": "MemoryError: cannot allocate",
    }
    targets = {t["id"]: t for t in _report([slow, broken])["targets"]}

    assert targets["direct_night"]["met"] is False
    assert "over" in targets["direct_night"]["why"] and "ingest" in targets["direct_night"]["why"]
    assert targets["floor_ratio"]["met"] is False
    assert (
        "ingest loses" in targets["floor_ratio"]["why"]
    )  # the stage furthest from its floor comes first
    assert targets["memory"]["met"] is False and "ingest" in targets["memory"]["why"]
    assert (
        targets["large_night"]["met"] is False
        and "segment failed: MemoryError" in targets["large_night"]["why"]
    )
    assert targets["airflow_run"]["met"] is None


def test_targets_without_the_sizes_are_not_measured() -> None:
    report = _report([_run(10_000)])
    report["setup"]["sizes"] = [10_000]
    targets = reporting.evaluate_targets(report)

    assert [t["met"] for t in targets] == [None] * 13
    assert all("not measured" in t["why"] for t in targets)


# -- report shape and rendering ----------------------------------------------------------


def test_check_report_accepts_a_good_report_and_names_what_is_wrong() -> None:
    good = _report([_run(100_000), _run(1_000_000, 10.0)])
    assert reporting.check_report(good) == []

    bad = copy.deepcopy(good)
    del bad["runs"][0]["stages"][0]["seconds"]
    bad["runs"][1]["stages"][1]["ok"] = False
    bad["targets"] = bad["targets"][:2]
    problems = reporting.check_report(bad)
    assert any("runs[0].stages[0].seconds" in p for p in problems)
    assert any("runs[1].stages[1].error" in p for p in problems)
    assert any(p.startswith("targets:") for p in problems)


def test_tables_show_each_stage_with_throughput_and_ratio() -> None:
    report = _report([_run(100_000), _run(1_000_000, 10.0)])

    text = render.render_text(report)
    markdown = render.render_markdown(report)

    for stage in ("ingest", "segment", "visuals", "publish"):
        assert stage in text and f"| {stage} |" in markdown
    assert "rows/s" in text and "cards/s" in text and "MB/s" in text
    assert "13.3×" in text  # ingest at 1M: 80 s over a 6 s floor
    assert "Scaling" in text and "Targets" in text
    assert "Test CPU" in markdown and "2026-11-23" in markdown


def test_update_readme_replaces_only_the_bench_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# Title\n\nintro\n\n{render.README_BEGIN}\nold\n{render.README_END}\n\nafter\n",
        encoding="utf-8",
    )

    render.update_readme(readme, "new table\n")

    text = readme.read_text(encoding="utf-8")
    assert "old" not in text and "new table" in text
    assert text.startswith("# Title\n\nintro\n") and text.endswith("\n\nafter\n")
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no bench section"):
        render.update_readme(readme, "x")


# -- child processes ---------------------------------------------------------------------


def test_a_failing_child_reports_its_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("MATINALE_S3_ENDPOINT_URL", None)

    result = run_child(
        "_stage",
        {"stage": "publish", "ctx": None},
        env=env,
        folder=tmp_path,
        name="broken",
        timeout=120,
    )

    assert result.ok is False
    assert (
        result.error and "KeyError" in result.error and "MATINALE_S3_ENDPOINT_URL" in result.error
    )
    assert json.loads((tmp_path / "broken.result.json").read_text())["ok"] is False


def test_cpu_of_workers_the_stage_never_waited_for_is_sampled() -> None:
    import subprocess
    import sys
    import time

    from matinale.dev.bench.probe import _tree_sample

    # A child whose grandchild burns CPU: what a forkserver's pool worker is to a stage.
    burner = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\ntime.sleep(30)"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {burner!r}]); time.sleep(30)",
        ]
    )
    try:
        cpu: dict[tuple[int, float], float] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(cpu.values()) < 0.5:
            assert _tree_sample(parent.pid, cpu) > 0
            time.sleep(0.1)
        assert sum(cpu.values()) >= 0.5 and parent.pid not in {pid for pid, _ in cpu}
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)], check=False)
        parent.kill()
        parent.wait()


def test_child_cpu_adds_the_larger_of_waited_and_sampled_workers() -> None:
    from matinale.dev.bench.probe import ChildResult

    payload = {"cpu_seconds": 5.0, "self_cpu_seconds": 2.0, "children_cpu_seconds": 3.0}
    assert ChildResult(True, 1.0, 10.0, payload, descendants_cpu_seconds=7.5).cpu_seconds() == 9.5
    assert ChildResult(True, 1.0, 10.0, payload, descendants_cpu_seconds=1.0).cpu_seconds() == 5.0
    # A result from before the split keeps its single number.
    assert (
        ChildResult(
            True, 1.0, 10.0, {"cpu_seconds": 4.0}, descendants_cpu_seconds=9.0
        ).cpu_seconds()
        == 4.0
    )


def test_the_bench_measures_the_nights_one_list_of_stages() -> None:
    """The bench runs matinale.night.STAGES, in their order and with their functions; a new
    stage without a measurement entry fails here (and at import) instead of going unmeasured."""
    from matinale import night
    from matinale.dev.bench.child import STAGES

    assert [(s.name, s.function) for s in STAGES] == [
        (s.name, s.function.__name__) for s in night.STAGES
    ]


def test_link_service_rows_in_the_bench_tables() -> None:
    """The README's link-service table: both routes, the floor, the ratio, the SIGTERM line."""
    from matinale.dev.bench.links import links_lines

    def row(rps: int, p99: float) -> dict[str, object]:
        return {"rps": rps, "p50_ms": 3.1, "p99_ms": p99}

    links = {
        "connections": 32,
        "seconds": 8,
        "s": row(5000, 12.0),
        "p": row(2500, 30.5),
        "floor": row(6000, 9.0),
        "ratio_s": 1.2,
        "ratio_p": 2.4,
        "sigterm": {"answered": 100, "written": 100},
        "met": False,
        "pack": {
            **row(400, 25.0),
            "bytes": 1_760_000,
            "cold_ms": 41.0,
            "mb_per_s": 704.0,
            "connections": 8,
        },
    }
    text = "\n".join(links_lines(links))
    assert (
        "a 1.76 MB pack of 15 cards): the first built from S3 in 41 ms, then 400 a second from "
        "the cache (704.0 MB/s, p50 3.1 ms, p99 25.0 ms, 8 connections)" in text
    )
    assert "| `/s/<code>` | 5,000 | 3.1 ms | 12.0 ms | 1.2× |" in text
    assert "| `/p/<token>` (presign cached 60 s) | 2,500 | 3.1 ms | 30.5 ms | 2.4× |" in text
    assert "| floor: bare Starlette `/s/` | 6,000 |" in text
    assert "100 written for 100 redirects answered" in text and "NOT met" in text
    assert links_lines(None) == ["Link service: not measured."]


def test_the_delivery_file_size_is_reported_with_its_night() -> None:
    run = _run(1_000_000, 10.0)
    publish = next(s for s in run["stages"] if s["stage"] == "publish")
    publish["summary"] = {"delivery": {"rows": 727_813, "bytes": 63_000_000}}
    report = _report([run])
    line = "Delivery file (private): 727,813 rows, 63.0 MB (87 bytes a row)"
    assert line in render.render_text(report) and line in render.render_markdown(report)
    del publish["summary"]
    assert "Delivery file" not in render.render_text(_report([run]))


def test_the_airflow_run_warms_every_import_a_direct_stage_warms() -> None:
    # "Imports excluded from both": a module warmed for a direct stage but paid inside
    # dag.test() would be counted as Airflow's overhead.
    from matinale.dev.bench.child import _IMPORTED, STAGES

    assert {name for stage in STAGES for name in stage.warm} <= set(_IMPORTED)


def test_the_execution_api_started_before_the_clock_is_reported_apart() -> None:
    runs = [_run(1_000_000, 0.2)]
    airflow = _airflow_run(runs[0], api_start_seconds=4.2, api_shared=True)
    shared = render.render_text(_report(runs, airflow))
    assert (
        "Execution API started before the clock, as an api-server is up before a night: 4.2 s\n"
        in shared
    )
    # A started API the tasks did not use would hide its seconds from both sides: said so.
    alone = render.render_text(_report(runs, {**airflow, "api_shared": False}))
    assert "4.2 s (NOT the one the tasks used: counted nowhere)" in alone
