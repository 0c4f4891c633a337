"""What runs inside the bench's child processes: one stage, a size's floors, the Airflow run.

Every entry point takes the path of a JSON spec written by the harness, reads its settings
from the environment the harness set (``MATINALE_HOME`` = the bench copy, ``MATINALE_VAR``
= this size's folder, the local S3 server's keys), and writes its result with
``probe.write_result``. Nothing here prints supporter data: stage summaries are reduced to
numbers before they leave the process.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from matinale.dev.bench.probe import write_result

__all__ = [
    "STAGES",
    "StageSpec",
    "airflow_main",
    "counts_only",
    "floors_main",
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


#: The night's stages in the order the DAG runs them. Optional ones run when ``night`` has them.
STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        "prepare", "run_prepare", True, "bytes", ("yaml", "matinale.content"), per_supporter=True
    ),
    StageSpec(
        "ingest",
        "run_ingest",
        True,
        "rows",
        ("pandas", "pyarrow.csv", "pyarrow.parquet", "matinale.ingest", "matinale.privacy"),
    ),
    StageSpec(
        "privacy", "run_privacy", True, "rows", ("pandas", "pyarrow.parquet", "matinale.privacy")
    ),
    StageSpec(
        "segment",
        "run_segment",
        True,
        "rows",
        ("pandas", "pyarrow.parquet", "sklearn.cluster", "matinale.geo", "matinale.segment"),
    ),
    StageSpec(
        "content", "run_content", True, "posts", ("jinja2", "matinale.content", "matinale.bundle")
    ),
    StageSpec(
        "visuals",
        "run_visuals",
        True,
        "cards",
        ("PIL.Image", "matinale.content", "matinale.visuals"),
    ),
    StageSpec(
        "contact_sheet",
        "run_contact_sheet",
        False,
        "cards",
        ("PIL.Image", "matinale.bundle", "matinale.visuals"),
    ),
    StageSpec(
        "bundle", "run_bundle", True, "bytes", ("jinja2", "matinale.content", "matinale.bundle")
    ),
    StageSpec(
        "checks",
        "run_checks",
        False,
        "bytes",
        ("matinale.bundle", "matinale.checks"),
        per_supporter=True,
    ),
    StageSpec(
        "publish",
        "run_publish",
        True,
        "bytes",
        ("boto3", "matinale.bundle", "matinale.publish"),
        per_supporter=True,
    ),
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
    client = s3_client_from_env() if stage.name == "publish" else None
    if stage.name == "prepare":
        started = time.perf_counter()
        result = function(
            settings, store, edition=date.fromisoformat(spec["edition"]), run=spec["run"]
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
    result = function(*args)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "import_seconds": import_seconds,
        "load_1min": load,
        "summary": counts_only(result) or {},
        **_usage(),
    }


def stage_main(spec_path: str) -> int:
    """``python -m matinale.dev.bench _stage SPEC``: run one stage of the night, timed."""
    return _guarded(_stage, spec_path)


def _find(value: Any, key: str) -> Any:
    """The first value of ``key`` in nested maps, breadth first."""
    queue = [value]
    while queue:
        item = queue.pop(0)
        if isinstance(item, dict):
            if key in item:
                return item[key]
            queue.extend(item.values())
    return None


def _model_shape(report: dict[str, Any], profiles: dict[str, Any], rows: int) -> dict[str, int]:
    """How big a matrix tonight's segmentation clustered, from its report and profiles.yaml."""
    adults = _find(report, "adults") or _find(report, "segmented") or rows
    columns = _find(report, "columns") or _find(report, "features") or []
    clusters = profiles.get("clusters", 4)
    k = _find(report, "k") or (clusters.get("max", 4) if isinstance(clusters, dict) else clusters)
    fit = _find(report, "sample_size") or profiles.get("sample_size") or adults
    return {
        "adults": int(adults),
        "columns": max(1, len(columns) if isinstance(columns, list) else int(columns)),
        "k": int(k),
        "fit_rows": int(min(int(fit), int(adults))),
    }


_EMAIL_PARTS = ("subject", "txt", "html")


def _posts_and_renders(store: Any, keys: list[str]) -> tuple[int, int]:
    """Posts in the bundle's posts.json files, and the template renders they took (an e-mail: one per part)."""
    posts = renders = 0
    for key in keys:
        for post in store.get_json(key).get("posts", []):
            posts += 1
            renders += (
                max(1, sum(1 for part in _EMAIL_PARTS if part in post))
                if post.get("channel") == "email"
                else 1
            )
    return posts, renders


def _card_sizes(store: Any, keys: list[str]) -> dict[tuple[int, int, str], int]:
    from PIL import Image

    sizes: dict[tuple[int, int, str], int] = {}
    for key in keys:
        with Image.open(io.BytesIO(store.get_bytes(key))) as image:
            size = (image.width, image.height, str(image.format or "JPEG"))
        sizes[size] = sizes.get(size, 0) + 1
    return sizes


def _card_quality(templates_dir: Path) -> int:
    import yaml

    try:
        brand = yaml.safe_load((templates_dir / "brand.yaml").read_text(encoding="utf-8")) or {}
    except OSError:
        return 90
    quality = _find(brand, "quality")
    return int(quality) if isinstance(quality, int) else 90


_IMAGE = (".jpg", ".jpeg", ".webp", ".png")
_FLOOR_IMPORTS = (
    "pandas",
    "pyarrow.csv",
    "pyarrow.parquet",
    "sklearn.cluster",
    "sklearn.datasets",
    "jinja2",
    "PIL.Image",
    "boto3",
    "yaml",
)


def _floors(spec: dict[str, Any]) -> dict[str, Any]:
    from matinale import night
    from matinale.dev.bench import floors
    from matinale.settings import load_settings

    _warm(
        _FLOOR_IMPORTS
    )  # a floor times work, not a first import (pyarrow.parquet pulls pandas in)
    settings = load_settings()
    store = night.make_store(settings)
    ctx = night.RunContext.from_xcom(spec["ctx"])
    ran: dict[str, dict[str, Any]] = spec[
        "stages"
    ]  # stage name → its summary, for stages that succeeded
    scratch = Path(spec["scratch"])
    bundle_keys = store.list(ctx.bundle)
    prefix = len(ctx.bundle) + 1
    cards = [k for k in bundle_keys if "/cards/" in k and k.lower().endswith(_IMAGE)]
    sheets = [
        k
        for k in bundle_keys
        if k[prefix:].startswith("contact-sheet") and k.lower().endswith(_IMAGE)
    ]
    posts, renders = _posts_and_renders(
        store, [k for k in bundle_keys if k.endswith("/posts.json")]
    )
    posts = int((ran.get("content") or {}).get("posts") or posts)
    result: dict[str, Any] = {}
    skipped: dict[str, str] = {}

    def measure(name: str, run: Callable[[], dict[str, Any]]) -> None:
        if name not in ran:
            return
        try:
            result[name] = run()
        except Exception as exc:  # one floor failing must not hide the others
            traceback.print_exc()
            skipped[name] = f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]

    measure(
        "prepare", lambda: floors.file_hashes([Path(ctx.supporters_file), Path(ctx.brief_file)])
    )
    measure("ingest", lambda: floors.csv_read(Path(ctx.supporters_file)))
    valid_key = f"{ctx.prefix}/private/valid.parquet"
    if store.exists(valid_key):
        measure("privacy", lambda: floors.parquet_round_trip(store.get_bytes(valid_key)))
    elif "privacy" in ran:
        skipped["privacy"] = f"{valid_key} is not in the work store"

    def kmeans() -> dict[str, Any]:
        import yaml

        report = store.get_json(f"{ctx.prefix}/segments.json").get("report") or {}
        profiles = (
            yaml.safe_load((settings.segments_dir / "profiles.yaml").read_text(encoding="utf-8"))
            or {}
        )
        shape = _model_shape(report, profiles, int(spec["rows"]))
        return floors.kmeans_fit(
            fit_rows=shape["fit_rows"],
            predict_rows=shape["adults"],
            columns=shape["columns"],
            k=shape["k"],
        )

    measure("segment", kmeans)
    measure("content", lambda: floors.jinja_renders(renders or posts))
    quality = _card_quality(settings.templates_dir)
    workers = floors.cpu_count()
    measure(
        "visuals",
        lambda: floors.blank_encodes(_card_sizes(store, cards), quality=quality, workers=workers),
    )
    measure(
        "contact_sheet",
        lambda: floors.blank_encodes(_card_sizes(store, sheets), quality=quality, workers=1),
    )
    measure(
        "bundle", lambda: floors.read_hash_write(bundle_keys, store.get_bytes, scratch / "bundle")
    )
    measure(
        "checks",
        lambda: floors.read_hash_write(
            bundle_keys, store.get_bytes, scratch / "checks", write=False
        ),
    )

    def uploads() -> dict[str, Any]:
        client = s3_client_from_env(pool=floors.S3_FLOOR_THREADS * 2)
        files = [(key[prefix:], store.get_bytes(key)) for key in bundle_keys]
        return floors.s3_uploads(client, spec["floor_bucket"], f"floor-{spec['rows']}", files)

    measure("publish", uploads)
    bundle_bytes = sum(len(store.get_bytes(k)) for k in bundle_keys)
    segments_key = f"{ctx.prefix}/segments.json"
    sizes = {
        "segments": len(store.get_json(segments_key).get("segments", []))
        if store.exists(segments_key)
        else 0,
        "supporters_bytes": Path(ctx.supporters_file).stat().st_size,
        "bundle_bytes": bundle_bytes,
        "bundle_files": len(bundle_keys),
        "cards": len(cards),
        "contact_sheets": len(sheets),
        "posts": posts,
    }
    return {"floors": result, "skipped": skipped, "sizes": sizes}


def floors_main(spec_path: str) -> int:
    """``python -m matinale.dev.bench _floors SPEC``: every floor of one size, on the stages' outputs."""
    return _guarded(_floors, spec_path)


#: What the night imports: warmed (and timed) before ``dag.test()``, as the direct stages warm theirs.
_IMPORTED = (
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
