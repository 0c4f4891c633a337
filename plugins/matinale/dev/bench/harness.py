"""The whole benchmark run: inputs, a local S3 server, every stage at every size, floors, Airflow.

Layout of a run's workspace (``<cache>/work/<stamp>-<mode>/``, removed at the end unless
``keep`` or something failed): ``home/`` (the bench copy of the settings), ``s3/`` (the
SeaweedFS data and log), ``night-<rows>/`` (``MATINALE_VAR`` of that size: inbox, work store,
and ``bench/`` with each child's spec, result and log), ``airflow-night/`` and ``airflow/``.
Generated supporter files stay in ``<cache>/`` between runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matinale.dev.bench import report as reporting
from matinale.dev.bench.learn import bench_learn
from matinale.dev.bench.links import bench_links
from matinale.dev.bench.probe import ChildResult, run_child
from matinale.dev.bench.records import (
    _complete,
    _direct_for,
    _night_stages,
    _stage_record,
    machine_info,
    unmeasured_functions,
)
from matinale.dev.bench.render import render_text
from matinale.dev.bench.workspace import (
    BENCH_EDITION,
    BenchHome,
    fill_inbox,
    make_home,
    supporters_file,
)
from matinale.dev.local import sqlite_airflow_env

__all__ = ["FULL_SIZES", "SMOKE_ROWS", "BenchOptions", "run_bench"]

FULL_SIZES = (100_000, 1_000_000, 3_000_000)
SMOKE_ROWS = 10_000
_BUCKETS = {"bundle": "bench-bundle", "private": "bench-private", "floor": "bench-floor"}
_DAG_ID = "matinale_nightly"
# Settings a developer may have exported that must not leak into the bench's processes.
_CLEARED = (
    "MATINALE_VAR",
    "MATINALE_INBOX",
    "MATINALE_CAMPAIGN_FILE",
    "MATINALE_WORK_STORE",
    "MATINALE_APPROVAL",
    "MATINALE_AWS_CONN_ID",
    "MATINALE_ALERT_CONN_ID",
    "MATINALE_DEADLINE_ALERT",
)


@dataclass(frozen=True)
class BenchOptions:
    """What to measure. ``BenchOptions()`` is ``make bench``; ``BenchOptions.smoke()`` is ``make test``'s.

    Relative ``cache_dir`` and ``results_dir`` are inside the project.
    """

    sizes: tuple[int, ...] = FULL_SIZES
    segments: int = 200
    themes: int = 5
    airflow_rows: int | None = 1_000_000
    seed: int = 42
    cache_dir: Path = Path("bench/cache")
    results_dir: Path = Path("bench/results")
    mode: str = "full"
    keep: bool = False
    stage_benches: bool = False
    stage_timeout: float = 3600.0

    @classmethod
    def smoke(cls, **changes: Any) -> BenchOptions:
        """10,000 rows, 5 segments × 2 themes: a few dozen cards, Airflow included."""
        return replace(
            cls(sizes=(SMOKE_ROWS,), segments=5, themes=2, airflow_rows=SMOKE_ROWS, mode="smoke"),
            **changes,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _base_env(project: Path, home: BenchHome, server: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    plugins = str(project / "plugins")
    env.update(
        {
            # The project's code first, whatever the venv's editable install points at.
            "PYTHONPATH": os.pathsep.join(
                filter(None, [plugins, os.environ.get("PYTHONPATH", "")])
            ),
            "MATINALE_HOME": str(home.path),
            "MATINALE_WORK_STORE": "local",
            "MATINALE_APPROVAL": "off",
            "MATINALE_BUNDLE_BUCKET": _BUCKETS["bundle"],
            "MATINALE_PRIVATE_BUCKET": _BUCKETS["private"],
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            **server.env(),
        }
    )
    return env


class _Bench:
    def __init__(self, options: BenchOptions, project: Path, out: Callable[[str], None]) -> None:
        self.options = options
        self.project = project
        self.out = out
        self.stamp = _now().strftime("%Y%m%dT%H%M%SZ")
        self.cache = project / options.cache_dir  # an absolute cache_dir stays as it is
        self.workspace = self.cache / "work" / f"{self.stamp}-{options.mode}"
        self.failures: list[str] = []
        self.inputs: list[dict[str, Any]] = []
        self.env: dict[str, str] = dict(os.environ)

    def say(self, message: str) -> None:
        self.out(message)

    def supporters(self, rows: int) -> Path:
        cached = self.cache / f"supporters-{rows}-{self.options.seed}.csv"
        if not cached.is_file():
            self.say(
                f"Generating {rows:,} sample supporters into {cached} (kept for the next runs)…"
            )
        path, seconds = supporters_file(self.cache, rows, self.options.seed, env=self.env)
        if not any(item["rows"] == rows for item in self.inputs):
            self.inputs.append(
                {
                    "rows": rows,
                    "file": path.name,
                    "bytes": path.stat().st_size,
                    "generated_seconds": None if seconds is None else round(seconds, 2),
                }
            )
        return path

    def child(
        self, command: str, spec: dict[str, Any], env: dict[str, str], folder: Path, name: str
    ) -> ChildResult:
        return run_child(
            command, spec, env=env, folder=folder, name=name, timeout=self.options.stage_timeout
        )

    def night(self, rows: int, home: BenchHome, base_env: dict[str, str]) -> dict[str, Any]:
        from matinale.schedule import run_slug

        label = reporting.size_label("rows", rows)
        supporters = self.supporters(rows)
        var = self.workspace / f"night-{rows}"
        fill_inbox(var, home, supporters)
        env = {**base_env, "MATINALE_VAR": str(var)}
        probes = var / "bench"
        run_id = run_slug(_now(), f"bench-{self.stamp}-{rows}")
        self.say(f"Night at {label}: run {run_id}")
        records: list[dict[str, Any]] = []
        ctx: dict[str, Any] | None = None
        failed: str | None = None
        for index, spec in enumerate(_night_stages()):
            if failed:
                records.append(
                    {
                        "stage": spec.name,
                        "ok": False,
                        "unit": spec.unit,
                        "error": f"not run: {failed} failed before it",
                    }
                )
                continue
            child = self.child(
                "_stage",
                {
                    "stage": spec.name,
                    "edition": BENCH_EDITION.isoformat(),
                    "run": run_id,
                    "ctx": ctx,
                },
                env,
                probes,
                f"{index:02d}-{spec.name}",
            )
            record = _stage_record(spec, child)
            records.append(record)
            if not child.ok:
                failed = spec.name
                self.failures.append(f"{rows:,} rows, {spec.name}: {record['error']}")
                self.say(f"  {spec.name:<14} FAILED: {record['error']}")
                continue
            if spec.name == "prepare":
                ctx = child.payload["ctx"]
            self.say(
                f"  {spec.name:<14} {record['seconds']:8.2f} s  {record['peak_mib']:8,.0f} MiB  (cpu {record['cpu_seconds']:.1f} s)"
            )
        run: dict[str, Any] = {
            "rows": rows,
            "run": run_id,
            "stages": records,
            "sizes": {},
            "floors_error": None,
        }
        floors: dict[str, Any] = {}
        if ctx is not None:
            ran = {r["stage"]: r.get("summary") or {} for r in records if r["ok"]}
            spec_floors = {
                "ctx": ctx,
                "rows": rows,
                "stages": ran,
                "scratch": str(var / "floor-scratch"),
                "floor_bucket": _BUCKETS["floor"],
            }
            self.say("  floors…")
            child = self.child("_floors", spec_floors, env, probes, "floors")
            if child.ok:
                floors = child.payload["floors"]
                run["sizes"] = child.payload["sizes"]
                run["floors_skipped"] = child.payload.get("skipped") or {}
            else:
                run["floors_error"] = child.error
                self.failures.append(f"{rows:,} rows, floors: {child.error}")
        _complete(run, floors)
        run["ok"] = failed is None
        self.say(
            f"  direct night {run['direct_seconds']:.1f} s, floors {run['floor_seconds'] or 0:.1f} s, peak {run['peak_mib']:,.0f} MiB"
        )
        return run

    def airflow(
        self, rows: int, home: BenchHome, base_env: dict[str, str], direct: dict[str, Any] | None
    ) -> dict[str, Any]:
        supporters = self.supporters(rows)
        var = self.workspace / "airflow-night"
        fill_inbox(var, home, supporters)
        airflow_home = self.workspace / "airflow"
        airflow_home.mkdir(parents=True, exist_ok=True)
        env = {
            **base_env,
            "MATINALE_VAR": str(var),
            **sqlite_airflow_env(airflow_home, self.project),
            # dag.test() of Airflow 3.3.2 crashes when a run with a DeadlineAlert succeeds (see
            # tests/e2e/conftest.py); the alert costs nothing measurable during the night.
            "MATINALE_DEADLINE_ALERT": "off",
        }
        record: dict[str, Any] = {"rows": rows, "ok": False}
        self.say(f"Airflow run at {reporting.size_label('rows', rows)}: airflow db migrate…")
        started = time.perf_counter()
        with (airflow_home / "migrate.log").open("wb") as log:
            migrate = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=900,
                check=False,
            )
        record["migrate_seconds"] = round(time.perf_counter() - started, 2)
        if migrate.returncode != 0:
            record["error"] = (
                f"airflow db migrate failed (exit {migrate.returncode}); see {airflow_home / 'migrate.log'}"
            )
            self.failures.append(record["error"])
            return record
        self.say("  dag.test()…")
        spec = {
            "dags_folder": str(self.project / "dags"),
            "dag_id": _DAG_ID,
            "edition": BENCH_EDITION.isoformat(),
        }
        child = self.child("_airflow", spec, env, var / "bench", "airflow")
        payload = child.payload
        tasks = payload.get("tasks") or []
        by_task: dict[str, float] = {}
        for task in tasks:
            if task.get("seconds") is not None:
                by_task[task["task_id"]] = round(
                    by_task.get(task["task_id"], 0.0) + task["seconds"], 3
                )
        record.update(
            {
                "ok": child.ok,
                "seconds": round(float(payload["seconds"]), 3) if "seconds" in payload else None,
                "parse_seconds": round(float(payload.get("parse_seconds", 0.0)), 3),
                # The Execution API dag.test() talks to, started before the clock (an
                # api-server is up before a night); api_shared: the tasks did talk to it.
                "api_start_seconds": round(float(payload.get("api_start_seconds", 0.0)), 3),
                "api_shared": payload.get("api_shared"),
                "api_ready": payload.get("api_ready"),
                "cpu_seconds": round(child.cpu_seconds(), 3),
                "peak_mib": round(
                    max(float(payload.get("rss_peak_mib", 0.0)), child.tree_peak_mib), 1
                ),
                "load_1min": payload.get("load_1min"),
                "tasks": tasks,
                "by_task": by_task,
                "direct_seconds": _direct_for(direct, by_task),
                "imports": payload.get("imports") or {},
            }
        )
        if not child.ok:
            record["error"] = child.error
            self.failures.append(f"Airflow run: {child.error}")
            self.say(f"  FAILED: {child.error}")
            return record
        record["task_seconds"] = round(sum(by_task.values()), 3)
        # What dag.test() spends outside task bodies: its scheduling loop and metadata DB writes.
        record["between_tasks_seconds"] = round(record["seconds"] - record["task_seconds"], 3)
        if direct:
            record["direct_by_stage"] = {
                s["stage"]: s["seconds"] for s in direct["stages"] if s.get("ok")
            }
            record["direct_not_in_dag"] = sorted(set(record["direct_by_stage"]) - set(by_task))
            # Tasks with no stage function (the brief sensor, the plan, the gate, the status
            # record): Matinale's own, but only the DAG has them, so they count as overhead.
            record["dag_only_tasks"] = {
                task: seconds
                for task, seconds in by_task.items()
                if task not in record["direct_by_stage"]
            }
        if record["direct_seconds"] is not None and record["seconds"] is not None:
            # Both sides exclude imports (warmed before the clock), so the difference is Airflow's.
            record["overhead_seconds"] = round(record["seconds"] - record["direct_seconds"], 3)
        else:
            record["overhead_seconds"] = None
        self.say(f"  {record['seconds']:.1f} s through Airflow, peak {record['peak_mib']:,.0f} MiB")
        return record

    def stage_benches(self, env: dict[str, str], cards: int, segments: int) -> dict[str, Any]:
        """Run the per-stage scripts others keep in ``bench/`` (``*_bench.py`` with ``run()``), if any.

        Each runs in a child process of its own, as the harness's stages do; a script that
        fails is reported and the rest go on.
        """
        results: dict[str, Any] = {}
        rows = max(
            (n for n in self.options.sizes if n <= reporting.TARGET_ROWS),
            default=self.options.sizes[0],
        )
        for path in sorted((self.project / "bench").glob("*_bench.py")):
            self.say(f"Stage bench {path.name}…")
            spec = {
                "path": str(path),
                "offer": {"rows": rows, "cards": cards, "segments": segments},
            }
            child = self.child(
                "_stage_bench", spec, env, self.workspace / "stage-benches", path.stem
            )
            if child.ok:
                results[path.stem] = {
                    "result": child.payload.get("result"),
                    "peak_mib": round(child.tree_peak_mib, 1),
                    "wall_seconds": round(child.wall_seconds, 2),
                }
            else:
                results[path.stem] = {"error": child.error}
                self.failures.append(f"stage bench {path.name}: {child.error}")
        return results


def run_bench(
    options: BenchOptions, *, project: Path | None = None, out: Callable[[str], None] = print
) -> tuple[dict[str, Any], Path]:
    """Measure the night as ``options`` say; return the report and the JSON file it was saved to."""
    from matinale.dev.seaweed import S3Credentials, SeaweedS3
    from matinale.settings import project_home

    project = Path(project or project_home()).resolve()
    bench = _Bench(options, project, out)
    started = _now()
    clock = time.perf_counter()
    bench.workspace.mkdir(parents=True, exist_ok=True)
    home = make_home(
        project, bench.workspace / "home", segments=options.segments, themes=options.themes
    )
    report: dict[str, Any] = {
        "schema": reporting.SCHEMA,
        "mode": options.mode,
        "started_at": started.isoformat(timespec="seconds"),
        "command": "make bench"
        if options.mode == "full"
        else "python -m matinale.dev.bench run --smoke",
        "machine": machine_info(project),
        "setup": {
            "home": home.to_json(),
            "edition": BENCH_EDITION.isoformat(),
            "seed": options.seed,
            "sizes": list(options.sizes),
            "airflow_rows": options.airflow_rows,
            "memory_measure": "max of the stage process's own peak (VmHWM) and the sampled RSS sum of its process tree",
        },
    }
    out(f"Matinale bench ({options.mode}): workspace {bench.workspace}")
    out(
        f"Setup: {home.segments} segments asked ({len(home.bands)} bands × {home.clusters} profiles), themes {', '.join(home.themes)}"
    )
    server = SeaweedS3(bench.workspace / "s3", S3Credentials.generate())
    try:
        server.start()
        server.ensure_buckets(*_BUCKETS.values())
        base_env = _base_env(project, home, server)
        bench.env = base_env
        runs = [bench.night(rows, home, base_env) for rows in options.sizes]
        report["runs"] = runs
        if options.airflow_rows:
            direct = next((r for r in runs if r["rows"] == options.airflow_rows), None)
            report["airflow"] = bench.airflow(options.airflow_rows, home, base_env, direct)
        if options.stage_benches:
            cards = max((int(r["sizes"].get("cards") or 0) for r in runs), default=0) or 3000
            segments = (
                max((int(r["sizes"].get("segments") or 0) for r in runs), default=0)
                or options.segments
            )
            report["stage_benches"] = bench.stage_benches(base_env, cards, segments)
        try:  # the link service, pinned one core each (bench/links.py); not in --smoke (make test)
            if options.mode != "smoke":
                report["links"] = bench_links(server, bench.workspace, out=out)
        except Exception as exc:  # noqa: BLE001 - the night's figures are still worth writing
            bench.failures.append(f"links: {type(exc).__name__}: {exc}")
    finally:
        server.stop(grace=1)  # throwaway data: weed's graceful stop would take ~15 s
    try:  # what the night learns: the simulator (bench/learn.py, ~40 s); not in --smoke
        if options.mode != "smoke":
            report["learn"] = bench_learn(project, out=out)
    except Exception as exc:  # noqa: BLE001 - the night's figures are still worth writing
        bench.failures.append(f"learn: {type(exc).__name__}: {exc}")
    report["inputs"] = bench.inputs
    report["imports"] = (report.get("airflow") or {}).get("imports") or {
        "seconds": None,
        "modules": {},
    }
    report["scaling"] = reporting.scaling(report["runs"])
    report["unmeasured_night_functions"] = unmeasured_functions()
    report["machine"]["load_1min_end"] = round(os.getloadavg()[0], 2)
    report["finished_at"] = _now().isoformat(timespec="seconds")
    report["duration_seconds"] = round(time.perf_counter() - clock, 1)
    report["failures"] = bench.failures
    results_dir = project / options.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{bench.stamp}-{options.mode}.json"
    report["results_file"] = (
        str(path.resolve().relative_to(project))
        if path.resolve().is_relative_to(project)
        else str(path)
    )
    report["targets"] = reporting.evaluate_targets(report)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    out("")
    out(render_text(report))
    out(f"Results: {path}")
    if bench.failures or options.keep:
        out(f"Workspace kept for a look (logs of each stage in night-*/bench/): {bench.workspace}")
    else:
        shutil.rmtree(bench.workspace, ignore_errors=True)
    return report, path
