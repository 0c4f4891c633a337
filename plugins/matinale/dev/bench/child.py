"""What runs inside the bench's child processes: one stage, the Airflow run, a stage bench.

Every entry point takes the path of a JSON spec written by the harness, reads its settings
from the environment the harness set (``MATINALE_HOME`` = the bench copy, ``MATINALE_VAR``
= this size's folder, the local S3 server's keys), and writes its result with
``probe.write_result``. Nothing here prints supporter data: stage summaries are reduced to
numbers before they leave the process.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from matinale.dev.bench.probe import write_result
from matinale.night import STAGES as NIGHT_STAGES

__all__ = [
    "STAGES",
    "StageSpec",
    "airflow_main",
    "counts_only",
    "s3_client_from_env",
    "stage_bench_main",
    "stage_main",
]

_MIB = 1024  # ru_maxrss is in KiB on Linux
_ERROR_CHARS = 600


@dataclass(frozen=True)
class StageSpec:
    """One stage of the night as the bench runs it.

    ``unit`` is what the stage's throughput counts (``rows``, ``posts``, ``cards`` or
    ``bytes``); ``warm`` lists modules imported before the clock starts, so that a stage's
    seconds are its work and the imports are reported apart (an Airflow task pays them once
    per process; so does the direct night). ``per_supporter``: the stage also reads
    supporter-level data (the delivery file, the PII scanner), so its time may grow with the
    rows even when its own unit does not.
    """

    name: str
    function: str
    required: bool
    unit: str
    warm: tuple[str, ...]
    per_supporter: bool = False


#: How the bench measures each stage of ``matinale.night.STAGES`` (the one list of stages,
#: which gives their names, order and functions): unit, modules imported before the clock,
#: whether it also reads supporter-level data.
# fmt: off
_MEASURE: dict[str, tuple[str, str, bool]] = {
    "prepare": ("bytes", "yaml matinale.content", True),
    "ingest": ("rows", "pandas pyarrow.csv pyarrow.parquet matinale.ingest matinale.privacy", False),
    "privacy": ("rows", "pandas pyarrow.parquet matinale.privacy", False),
    "segment": ("rows", "pandas pyarrow.parquet sklearn.cluster matinale.geo matinale.segment matinale.territories.chart", False),
    "learn": ("segments", "sqlalchemy matinale.learn matinale.learn.charts matinale.content", False),
    "content": ("posts", "jinja2 matinale.content matinale.bundle", False),
    "visuals": ("cards", "PIL.Image matinale.content matinale.visuals", False),
    "contact_sheet": ("cards", "PIL.Image matinale.bundle matinale.visuals", False),
    "bundle": ("bytes", "jinja2 matinale.content matinale.bundle", False),
    "checks": ("bytes", "matinale.bundle matinale.checks", True),
    "publish": ("bytes", "boto3 matinale.bundle matinale.publish", True),
}
# fmt: on
STAGES: tuple[StageSpec, ...] = tuple(
    StageSpec(
        stage.name,
        stage.function.__name__,
        True,
        _MEASURE[stage.name][0],
        tuple(_MEASURE[stage.name][1].split()),
        _MEASURE[stage.name][2],
    )
    for stage in NIGHT_STAGES
)
_BY_NAME = {stage.name: stage for stage in STAGES}


def counts_only(value: Any) -> Any:
    """Numbers, booleans and maps of them: all of a stage's summary the report may keep.

    Summaries are meant for XCom and hold no personal data, but they may hold paths or
    links (a presigned URL is a bearer token): text is dropped rather than judged.
    """
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        kept = {str(k): counts_only(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {}}
    return None


def _warm(modules: tuple[str, ...]) -> float:
    started = time.perf_counter()
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("matinale"):  # a stage module another branch adds
                raise
    return time.perf_counter() - started


def _own_peak_mib() -> float:
    """This process's peak resident memory, its own only.

    ``ru_maxrss`` would do, but Linux carries the parent's high-water mark into a child
    across ``fork``/``exec`` (``signal->maxrss``), so a light stage would report the
    harness's peak. ``VmHWM`` belongs to the process's current address space alone.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _MIB  # not Linux: the best there is


def _usage() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu_seconds": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        # Apart, so the harness can add what it sampled of workers this process never waited
        # for (a forkserver's workers are its children, not ours: RUSAGE_CHILDREN misses them).
        "self_cpu_seconds": me.ru_utime + me.ru_stime,
        "children_cpu_seconds": kids.ru_utime + kids.ru_stime,
        "rss_peak_mib": _own_peak_mib(),
    }


def s3_client_from_env(*, pool: int = 10) -> Any:
    """A boto3 client for the bench's S3 server, from the environment the harness set."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ["MATINALE_S3_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=pool,
        ),
    )


def _guarded(main: Callable[[dict[str, Any]], dict[str, Any]], spec_path: str) -> int:
    """Run ``main`` on the spec; write ``{"ok": False, "error": ...}`` if it raises."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        payload = {"ok": True, **main(spec)}
    except Exception as exc:  # the report says which stage failed and why
        traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}"
        payload = {"ok": False, "error": message[:_ERROR_CHARS], **_usage()}
    write_result(Path(spec["result"]), payload)
    return 0 if payload["ok"] else 1


def _all_segments(night: Any, store: Any, ctx: Any) -> list[str]:
    # One batch holding every segment: the direct night calls each stage once.
    return [
        segment
        for batch in night.plan_batches(store, ctx, per_core=1, cores=1)
        for segment in batch
    ]


def _stage(spec: dict[str, Any]) -> dict[str, Any]:
    stage = _BY_NAME[spec["stage"]]
    import_seconds = _warm(("matinale.night", "matinale.settings", *stage.warm))
    from matinale import night
    from matinale.settings import load_settings

    settings = load_settings()
    store = night.make_store(settings)
    function = getattr(night, stage.function)
    load = os.getloadavg()[0]
    # prepare reserves the run's short-code stem in the link state; publish uploads
    client = s3_client_from_env() if stage.name in {"prepare", "publish"} else None
    if stage.name == "prepare":
        started = time.perf_counter()
        result = function(
            settings,
            store,
            edition=date.fromisoformat(spec["edition"]),
            run=spec["run"],
            client=client,
        )
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "import_seconds": import_seconds,
            "load_1min": load,
            "ctx": result,
            "summary": {},
            **_usage(),
        }
    ctx = night.RunContext.from_xcom(spec["ctx"])
    args: tuple[Any, ...] = (settings, store, ctx)
    if stage.name in {"content", "visuals"}:
        args = (*args, _all_segments(night, store, ctx))
    elif stage.name == "publish":
        args = (*args, client)
    started = time.perf_counter()
    result = _profiled(stage.name, Path(spec["result"]), function, *args)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "import_seconds": import_seconds,
        "load_1min": load,
        "summary": counts_only(result) or {},
        **_usage(),
    }


def _profiled(name: str, result: Path, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, under cProfile when ``MATINALE_BENCH_PROFILE`` names the stage
    (comma-separated names, or ``all``): the stats go beside the stage's result as
    ``<stage>.prof`` (for snakeviz or pstats) and ``<stage>.profile.txt`` (the 40 costliest
    calls by cumulative time). The profiler slows the stage: profile, then time without it."""
    wanted = {n.strip() for n in os.environ.get("MATINALE_BENCH_PROFILE", "").split(",")}
    if name not in wanted and "all" not in wanted:
        return function(*args)
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    try:
        return profiler.runcall(function, *args)
    finally:
        folder = result.parent
        profiler.dump_stats(folder / f"{name}.prof")
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        (folder / f"{name}.profile.txt").write_text(text.getvalue(), encoding="utf-8")


def stage_main(spec_path: str) -> int:
    """``python -m matinale.dev.bench _stage SPEC``: run one stage of the night, timed."""
    return _guarded(_stage, spec_path)


_IMPORTED: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow.csv",
    "pyarrow.parquet",
    "sklearn.cluster",
    "PIL.Image",
    "jinja2",
    "boto3",
    "yaml",
    "matinale.night",
    "matinale.ingest",
    "matinale.privacy",
    "matinale.segment",
    "matinale.content",
    "matinale.visuals",
    "matinale.bundle",
    "matinale.checks",
    "matinale.publish",
)
# Every module a direct stage warms is warmed before dag.test() too: both sides exclude the
# same imports, so the difference is Airflow's own.
_IMPORTED = tuple(dict.fromkeys([*_IMPORTED, *(name for stage in STAGES for name in stage.warm)]))


def _start_execution_api() -> tuple[Any, float]:
    """Start the Execution API that ``dag.test()`` runs every task through, and check its
    health; the API and the seconds it took.

    ``dag.test()`` talks to an in-process copy of the api-server's Execution API (a FastAPI
    app behind a WSGI transport, ``in_process_api_server()``, one per process). It builds it
    on the first task, and the app makes its versioned routes (Cadwyn) on its first request:
    about 5 s here, counted in the brief sensor's time. A deployment's api-server is up, and
    has answered its health check, before the night starts, and serves every night. So the
    bench does the same before the clock, as it warms imports, and reports its seconds apart.
    """
    import httpx
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    started = time.perf_counter()
    api = in_process_api_server()
    # app and transport are cached on the one instance dag.test() gets; the health check is
    # the app's first request.
    with httpx.Client(transport=api.transport, base_url="http://in-process.invalid./") as client:
        answer = client.get("health")
    if answer.status_code != 200:
        raise RuntimeError(
            f"the in-process Execution API's health check answered {answer.status_code}"
        )
    return api, time.perf_counter() - started


def _shares_execution_api(api: Any) -> bool:
    """Whether ``dag.test()``'s tasks talk to ``api``: its client's transport is ``api``'s."""
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

    client = InProcessTestSupervisor._api_client()  # an httpx.Client: its transport is private
    return getattr(client, "_transport", None) is api.transport


def _airflow(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=spec["dags_folder"])
    if bag.import_errors:
        raise RuntimeError(
            f"DAG import errors: {sorted(bag.import_errors)}; run `make test` (tests/dags) to see them"
        )
    dag = bag.get_dag(spec["dag_id"])
    if dag is None:
        raise RuntimeError(f"no DAG {spec['dag_id']!r} in {spec['dags_folder']}")
    parse_seconds = time.perf_counter() - started
    imports = {name: round(_warm((name,)), 3) for name in _IMPORTED}
    api, api_start_seconds = _start_execution_api()
    # Its event loop runs from the start of its transport: up before the clock, not in task one.
    api_ready = any(t.name == "InProcessExecutionAPI-loop" for t in threading.enumerate())
    load = os.getloadavg()[0]
    started = time.perf_counter()
    run = dag.test(run_conf={"edition_date": spec["edition"]})
    seconds = time.perf_counter() - started
    tasks = []
    for ti in sorted(
        run.get_task_instances(),
        key=lambda t: (t.start_date is None, t.start_date or 0, t.map_index),
    ):
        tasks.append(
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": str(ti.state),
                "seconds": float(ti.duration) if ti.duration is not None else None,
            }
        )
    state = str(run.state)
    payload = {
        "seconds": seconds,
        "parse_seconds": parse_seconds,
        "imports": {"seconds": round(sum(imports.values()), 3), "modules": imports},
        "api_start_seconds": api_start_seconds,
        "api_shared": _shares_execution_api(api),
        "api_ready": api_ready,
        "load_1min": load,
        "state": state,
        "tasks": tasks,
        **_usage(),
    }
    if state != "success":
        failed = sorted({t["task_id"] for t in tasks if t["state"] not in {"success", "skipped"}})
        payload.update(
            ok=False,
            error=f"the DAG run ended {state}; tasks not successful: {failed}; see the log beside the result",
        )
    return payload


def airflow_main(spec_path: str) -> int:
    """``python -m matinale.dev.bench _airflow SPEC``: the night as one ``dag.test()`` run, timed."""
    return _guarded(_airflow, spec_path)


def _stage_bench(spec: dict[str, Any]) -> dict[str, Any]:
    import inspect
    import sys

    path = Path(spec["path"])
    # Imported by its own name from its folder, so that process pools it starts (spawn)
    # can import it again in their workers.
    sys.path.insert(0, str(path.parent))
    module = importlib.import_module(path.stem)
    wanted = inspect.signature(module.run).parameters
    kwargs = {key: value for key, value in spec["offer"].items() if key in wanted}
    return {"result": module.run(**kwargs), "kwargs": kwargs}


def stage_bench_main(spec_path: str) -> int:
    """``python -m matinale.dev.bench _stage_bench SPEC``: another engineer's ``bench/<stage>_bench.py`` ``run()``."""
    return _guarded(_stage_bench, spec_path)
