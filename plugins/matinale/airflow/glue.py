"""Task bodies for the DAG files: Airflow context in, plain stage calls out.

DAG files stay thin: they wire these functions into tasks. Every stage of
``matinale.night.STAGES`` runs through one helper, ``run_stage``: it reads the run's
identity from ``prepare``'s XCom (a small dict, ``run_context``), builds the work store and S3 client from configuration
and connections, picks the inputs the stage takes and returns its small summary. ``plan``,
``gate`` and ``record`` steer the night; their decisions are plain functions of
``matinale.night.outcome``. The two clocks are explicit everywhere: the edition is the Paris
morning a run serves, and logs show campaign and team time.

Every task body goes through ``task_errors``, the one place that maps Matinale's errors to
Airflow: a wrong brief, template, brand kit or file fails the task at once with its message;
a transient failure (S3, network, database) is raised again for Airflow to retry.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from matinale import night

# What the DAG files are built from (airflow/shape.py), re-exported for ``glue.default_args()``.
from matinale.airflow.shape import (
    EDITION_ASSET,
    deadline_alert,
    default_args,
    edition_asset,
    nightly_params,
    nightly_timetable,
)
from matinale.errors import MatinaleError, is_retryable
from matinale.night.outcome import (
    Params,
    counts,
    decide,
    only_segments,
    outcome,
    task_states,
    total,
)
from matinale.s3types import S3Client
from matinale.schedule import edition_for, night_of, run_slug, two_clocks
from matinale.settings import Settings, cached_settings

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "EDITION_ASSET",
    "NoRunContext",
    "UnknownSegments",
    "deadline_alert",
    "default_args",
    "edition_asset",
    "edition_of",
    "gate",
    "nightly_params",
    "nightly_timetable",
    "plan",
    "record",
    "retention",
    "run_context",
    "run_stage",
    "s3_client",
    "task_errors",
]

log = logging.getLogger(__name__)


# -- how an error ends a task -------------------------------------------------------------------


@contextmanager
def task_errors() -> Iterator[None]:
    """Fail the task at once on an error retrying cannot fix; let Airflow retry the others.

    A Matinale error that is not retryable (brief, template, brand kit, text that does not
    fit, segment definitions, check findings, unknown segments…) becomes an
    ``AirflowFailException`` with the error's message: no retry, and the failure alert
    (``on_failure_callback``) fires once, with that message. A retryable one (S3 through the
    work store or publish) and any error that is not Matinale's (botocore, network, database)
    are raised again: the DAG's ``retries`` apply, as before. Also a decorator.
    """
    try:
        yield
    except MatinaleError as error:
        from airflow.sdk.exceptions import AirflowFailException

        if is_retryable(error) or isinstance(error, AirflowFailException):
            raise
        raise AirflowFailException(str(error)) from error


# -- DAG-level wiring (parse time: light imports only) -------------------------------------------


# -- connections and stores ----------------------------------------------------------------------


def s3_client(settings: Settings | None = None) -> S3Client:
    """A boto3 S3 client from the Airflow connection (endpoint_url for SeaweedFS/MinIO),
    with retries and exponential backoff on throttling, 5xx and connection errors."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from matinale.publish import retry_config

    settings = settings or cached_settings()
    return S3Hook(aws_conn_id=settings.aws_conn_id, config=retry_config()).get_conn()


def _store(settings: Settings) -> Any:
    return night.make_store(settings, s3_client(settings) if settings.work_store == "s3" else None)


# -- the run's identity --------------------------------------------------------------------------


def edition_of(context: Any) -> date:
    """The run's edition: the Param ``edition_date``, else the Paris morning ``run_after`` serves."""
    chosen = (context.get("params") or {}).get("edition_date")
    if chosen:
        return date.fromisoformat(str(chosen))
    return edition_for(context["dag_run"].run_after, cached_settings().clocks)


def _ctx(value: dict[str, Any]) -> night.RunContext:
    return night.RunContext.from_xcom(value)


class NoRunContext(MatinaleError):
    """A task that needs the run's context found none: ``prepare`` has not run in this run."""


def run_context(context: Context) -> dict[str, Any]:
    """The run's context (``RunContext.to_xcom``), read from ``prepare``'s XCom.

    Every task after ``prepare`` reads it from there rather than through an edge from
    ``prepare``: the graph shows the night's own chain, a cleared task (a rerun of one stage)
    finds it again, and a mapped task's instances all read the same one.
    """
    value = context["ti"].xcom_pull(task_ids=night.PREPARE)
    if not isinstance(value, dict):
        raise NoRunContext(
            f"task {night.PREPARE} of this run left no run context: clear {night.PREPARE} "
            "and its downstream tasks to run the night again"
        )
    return value


# -- the stages ----------------------------------------------------------------------------------


@task_errors()
def run_stage(
    name: str,
    context: Context,
    ctx: dict[str, Any] | None = None,
    batch: list[str] | None = None,
) -> dict[str, Any]:
    """Run the stage ``name`` of ``night.STAGES`` as this task; return its summary for XCom.

    The stage gets what it takes (``Stage.takes``): the run's context (``ctx``, read from
    ``prepare``'s XCom when not given), the mapped task's ``batch``, the Params, an S3 client;
    ``prepare`` gets the edition and run slug of a new run instead. ``publish`` tells
    Airflow which edition its asset event is for.
    """
    stage = night.stage(name)
    settings = cached_settings()
    params = context["params"]
    if ctx is None and "ctx" in stage.takes:
        ctx = run_context(context)
    if stage.name == night.PUBLISH:
        _may_still_publish(ctx or {}, params, settings)
    client = s3_client(settings) if "client" in stage.takes or settings.work_store == "s3" else None
    inputs: dict[str, Any] = {
        "batch": batch,
        "only": only_segments(params) or None,
        "skip_visuals": bool(params.get("skip_visuals")),
        "client": client,
        "links_db": links_db_url() if "links_db" in stage.takes else None,
    }
    if ctx is not None:
        inputs["ctx"] = _ctx(ctx)
    if "edition" in stage.takes:
        inputs.update(_new_run(context, settings))
    # A NightError (a broken export, check findings…) stays on retry: task_errors fails at once.
    summary = night.call_stage(stage, settings, night.make_store(settings, client), **inputs)
    if stage.name == night.PUBLISH and "outlet_events" in context:
        _announce(context, ctx or {}, summary, settings)
    return summary


def links_db_url() -> str | None:
    """The SQLAlchemy URL of the Airflow connection ``matinale_links_db`` when it is defined
    in Airflow (the UI, a secrets backend); None when the environment defines it
    (``AIRFLOW_CONN_MATINALE_LINKS_DB``, ``MATINALE_LINKS_DB_URL``: read as is by
    :func:`matinale.links.counts.database_url`) or nothing does (SQLite under ``var/``)."""
    from matinale.links.counts import CONN_ID

    if os.environ.get("MATINALE_LINKS_DB_URL") or os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}"):
        return None
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        uri = BaseHook.get_connection(CONN_ID).get_uri()
    except AirflowNotFoundException:
        return None
    return (
        "postgresql://" + uri.removeprefix("postgres://") if uri.startswith("postgres://") else uri
    )


def _announce(
    context: Context, ctx: dict[str, Any], summary: dict[str, Any], settings: Settings
) -> None:
    """Say on the edition's asset event which edition and run were published (small: keys only)."""
    event = context["outlet_events"][edition_asset()]
    event.extra = {
        "edition": ctx.get("edition"),
        "run": ctx.get("run"),
        "bucket": settings.bundle_bucket,
        "prefix": summary.get("prefix"),
        "latest_moved": summary.get("latest_moved"),
    }


def _new_run(context: Context, settings: Settings) -> dict[str, Any]:
    """The edition and run slug of a run that starts (``prepare``), logged in both clocks."""
    dag_run = context["dag_run"]
    edition = edition_of(context)
    run = run_slug(dag_run.run_after, dag_run.run_id)
    the_night = night_of(edition, settings.clocks)
    log.info(
        "Edition %s (Paris morning), run %s; night started %s; publish deadline %s",
        edition,
        run,
        two_clocks(dag_run.run_after, settings.clocks),
        two_clocks(the_night.deadline, settings.clocks),
    )
    return {"edition": edition, "run": run}


def _may_still_publish(ctx: dict[str, Any], params: Params, settings: Settings) -> None:
    """Publish, after checking the law once more: an approval may have crossed into a silence."""
    from airflow.sdk.exceptions import AirflowSkipException

    decision = decide(ctx, params, datetime.now(UTC), settings)
    if not decision.publish:
        log.warning("Not publishing: %s", decision.reason)
        raise AirflowSkipException(decision.reason)


class UnknownSegments(MatinaleError, ValueError):
    """The Param ``segments`` names segments this night did not make."""


class NothingToBuild(MatinaleError):
    """The night made no segment: every later task would be skipped and the run end green."""


@task_errors()
def plan(ctx: dict[str, Any], params: Params) -> list[list[str]]:
    """Batches of segments for the mapped content and visuals tasks (a few per core)."""
    settings = cached_settings()
    only = only_segments(params)
    batches = night.plan_batches(
        _store(settings), _ctx(ctx), cores=os.cpu_count() or 2, only=only or None
    )
    unknown = sorted(set(only) - {s for batch in batches for s in batch})
    if unknown:
        raise UnknownSegments(
            f"Param 'segments' names {unknown}, which this night did not make; "
            "use ids from segments.json of the run (e.g. 35-49-p02) or leave it empty for all"
        )
    if not batches:
        # Mapped over nothing, content and visuals would be skipped, and with them every task
        # up to publish: a green run that published nothing. Fail it, saying why.
        raise NothingToBuild(
            "segments.json of this run lists no segment, so nothing would be published; "
            "read the segment task's log (too few supporters per segment?)"
        )
    return batches


def _preview_url(ctx: dict[str, Any]) -> str:
    """The preview of this run's bundle in the Matinale view (absolute when api.base_url is set)."""
    from airflow.sdk import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}/matinale/preview/{ctx['edition']}/{ctx['run']}/index.html"


@task_errors()
def gate(ctx: dict[str, Any], context: Context) -> bool:
    """Decide whether this run may go on to approval and publish; say why not, in the log.

    Short-circuit: returning False skips approval and publish; the reason is kept in XCom
    (``decision``) for the status record and the Matinale view.
    """
    settings = cached_settings()
    now = datetime.now(UTC)
    decision = decide(ctx, context["params"], now, settings)
    edition = date.fromisoformat(ctx["edition"])
    the_night = night_of(edition, settings.clocks)
    ti = context["ti"]
    ti.xcom_push(
        key="decision",
        value={
            **decision.to_dict(),
            "edition": ctx["edition"],
            "edition_label": f"{edition:%d/%m/%Y}",
            "run": ctx["run"],
        },
    )
    log.info("Publication decision at %s: %s", two_clocks(now, settings.clocks), decision.reason)
    if decision.publish and settings.approval:
        posts = total(ti.xcom_pull(task_ids=night.CONTENT), "posts")
        cards = total(ti.xcom_pull(task_ids=night.VISUALS), "cards")
        segments = (ti.xcom_pull(task_ids=night.SEGMENT) or {}).get("segments", "?")
        ti.xcom_push(
            key="approval_body",
            value=(
                f"**Édition du {edition:%d/%m/%Y}** (run `{ctx['run']}`)\n\n"
                f"- {segments} segments, {posts} posts, {cards} visuels\n"
                f"- Heure limite de publication : {two_clocks(the_night.deadline, settings.clocks)}\n"
                f"- Sans réponse avant {two_clocks(the_night.approval_closes, settings.clocks)}, "
                "l’édition **n’est pas publiée**.\n\n"
                f"[Aperçu de l’édition]({_preview_url(ctx)}) — à relire avant de choisir "
                "**Publier** ou **Ne pas publier**."
            ),
        )
    return decision.publish


# -- the night's status record -----------------------------------------------------------------


def _task_states(context: Context) -> dict[str, str]:
    """task_id → worst state among its instances (mapped ones included), for this run."""
    dag_run, ti = context["dag_run"], context["ti"]
    raw = ti.get_task_states(dag_id=dag_run.dag_id, run_ids=[dag_run.run_id]).get(
        dag_run.run_id, {}
    )
    return task_states(raw, context["dag"].task_ids)


@task_errors()
def record(context: Context) -> dict[str, Any]:
    """Write the night's status (outcome, reason, counts) to the private bucket.

    Runs as a teardown, after everything: it never changes the run's own outcome. Counts
    and segment sizes only: the record is shown in the Matinale view.
    """
    from matinale.status import write_status

    settings = cached_settings()
    ti, dag_run = context["ti"], context["dag_run"]
    ctx = ti.xcom_pull(task_ids=night.PREPARE)
    edition = date.fromisoformat(ctx["edition"]) if ctx else edition_of(context)
    run = ctx["run"] if ctx else run_slug(dag_run.run_after, dag_run.run_id)
    states = {k: v for k, v in _task_states(context).items() if k != ti.task_id}
    decision = ti.xcom_pull(task_ids=night.GATE, key="decision")
    answer = (
        ti.xcom_pull(task_ids=night.APPROVAL, key="answer")
        if night.APPROVAL in context["dag"].task_ids
        else None
    )
    state, reason, detail = outcome(
        states, decision, answer, ctx, context["params"], settings=settings
    )
    built = ti.xcom_pull(task_ids=night.BUNDLE) or {}
    segments: list[dict[str, Any]] = []
    if ctx and built:
        manifest = _store(settings).get_json(f"{_ctx(ctx).bundle}/manifest.json")
        segments = [
            {k: s.get(k) for k in ("id", "label", "size")} for s in manifest.get("segments", [])
        ]
    the_night = night_of(edition, settings.clocks)
    night_counts = counts(ti.xcom_pull(task_ids=night.INGEST), ti.xcom_pull(task_ids=night.PRIVACY))
    night_counts.update(
        segments=len(segments),
        posts=total(ti.xcom_pull(task_ids=night.CONTENT), "posts"),
        cards=total(ti.xcom_pull(task_ids=night.VISUALS), "cards"),
        files=int(built.get("files", 0)),
    )
    published = ti.xcom_pull(task_ids=night.PUBLISH) if state == "published" else None
    status = {
        "edition": edition.isoformat(),
        "run": run,
        "dag_run_id": dag_run.run_id,
        "state": state,
        "detail": detail,
        "reason": reason,
        "params": {
            k: v
            for k, v in dict(context["params"]).items()
            if k in {"edition_date", "segments", "skip_visuals", "dry_run"}
        },
        "started_at": dag_run.start_date.astimezone(UTC).isoformat(timespec="seconds")
        if dag_run.start_date
        else None,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "deadline": the_night.deadline.astimezone(UTC).isoformat(timespec="seconds"),
        "counts": night_counts,
        "segments": segments,
        "tasks": states,
        "published": {"prefix": published["prefix"]} if isinstance(published, dict) else None,
    }
    key = write_status(s3_client(settings), settings.private_bucket, status)
    log.info(
        "Night %s / %s: %s — %s (s3://%s/%s)",
        edition,
        run,
        state,
        reason,
        settings.private_bucket,
        key,
    )
    return {"state": state, "key": key}


# -- retention -----------------------------------------------------------------------------------


@task_errors()
def retention(context: Any) -> dict[str, Any]:
    """Delete per-person files past their retention, old published editions and
    never-promoted runs (see ``matinale.retention``; ``matinale retention`` does the same)."""
    from matinale.retention import purge

    settings = cached_settings()
    client = s3_client(settings)
    store = night.make_store(settings, client)
    today = datetime.now(UTC).astimezone(settings.clocks.campaign_tz).date()
    return purge(
        store, settings, today=today, dry_run=bool(context["params"].get("dry_run")), client=client
    )
