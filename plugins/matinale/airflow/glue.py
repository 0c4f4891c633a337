"""Task bodies for the DAG files: Airflow context in, plain stage calls out.

DAG files stay thin: they wire these functions into tasks. Each function reads the run's
identity from XCom (a small dict), builds the work store and S3 client from configuration
and connections, and returns a small summary.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any

from matinale import night
from matinale.schedule import edition_for, run_slug
from matinale.settings import Settings, cached_settings

__all__ = [
    "bundle",
    "checks",
    "contact_sheet",
    "content",
    "default_args",
    "ingest",
    "nightly_timetable",
    "plan",
    "prepare",
    "privacy",
    "publish",
    "s3_client",
    "segment",
    "visuals",
]


def default_args() -> dict[str, Any]:
    return {"owner": "data-team", "retries": 2, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True}


def nightly_timetable() -> Any:
    """The night starts at ``clocks.nightly_start`` in the campaign's zone, whatever the DST."""
    from airflow.sdk import CronTriggerTimetable

    clocks = cached_settings().clocks
    start = clocks.nightly_start
    return CronTriggerTimetable(f"{start.minute} {start.hour} * * *", timezone=clocks.campaign_tz.key)


def s3_client(settings: Settings | None = None) -> Any:
    """A boto3 S3 client from the Airflow connection (endpoint_url for SeaweedFS/MinIO),
    with retries and exponential backoff on throttling, 5xx and connection errors."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from matinale.publish import retry_config

    settings = settings or cached_settings()
    return S3Hook(aws_conn_id=settings.aws_conn_id, config=retry_config()).get_conn()


def _store(settings: Settings) -> Any:
    return night.make_store(settings, s3_client(settings) if settings.work_store == "s3" else None)


def prepare(context: Any) -> dict[str, Any]:
    settings = cached_settings()
    dag_run = context["dag_run"]
    params = context["params"]
    if params.get("edition_date"):
        edition = date.fromisoformat(str(params["edition_date"]))
    else:
        edition = edition_for(dag_run.run_after, settings.clocks)
    run = run_slug(dag_run.run_after, dag_run.run_id)
    return night.run_prepare(settings, _store(settings), edition=edition, run=run)


def _ctx(value: dict[str, Any]) -> night.RunContext:
    return night.RunContext.from_xcom(value)


def ingest(ctx: dict[str, Any]) -> dict[str, Any]:
    settings = cached_settings()
    try:
        return night.run_ingest(settings, _store(settings), _ctx(ctx))
    except night.NightError as exc:
        # A broken export stays broken on retry: fail at once with the message.
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc


def privacy(ctx: dict[str, Any]) -> dict[str, Any]:
    settings = cached_settings()
    return night.run_privacy(settings, _store(settings), _ctx(ctx))


def segment(ctx: dict[str, Any]) -> dict[str, Any]:
    settings = cached_settings()
    return night.run_segment(settings, _store(settings), _ctx(ctx))


def plan(ctx: dict[str, Any], params: dict[str, Any]) -> list[list[str]]:
    settings = cached_settings()
    only = [s for s in (params.get("segments") or []) if s]
    return night.plan_batches(_store(settings), _ctx(ctx), cores=os.cpu_count() or 2, only=only or None)


def content(ctx: dict[str, Any], batch: list[str]) -> dict[str, Any]:
    settings = cached_settings()
    return night.run_content(settings, _store(settings), _ctx(ctx), batch)


def visuals(ctx: dict[str, Any], batch: list[str]) -> dict[str, Any]:
    settings = cached_settings()
    return night.run_visuals(settings, _store(settings), _ctx(ctx), batch)


def contact_sheet(ctx: dict[str, Any]) -> dict[str, Any]:
    settings = cached_settings()
    return night.run_contact_sheet(settings, _store(settings), _ctx(ctx))


def bundle(ctx: dict[str, Any]) -> dict[str, Any]:
    settings = cached_settings()
    return night.run_bundle(settings, _store(settings), _ctx(ctx))


def checks(ctx: dict[str, Any]) -> dict[str, Any]:
    """Pre-publish checks on the built bundle: a failure stops the night before approval."""
    settings = cached_settings()
    return night.run_checks(settings, _store(settings), _ctx(ctx))


def publish(ctx: dict[str, Any]) -> dict[str, Any]:
    settings = cached_settings()
    client = s3_client(settings)
    return night.run_publish(settings, night.make_store(settings, client), _ctx(ctx), client)
