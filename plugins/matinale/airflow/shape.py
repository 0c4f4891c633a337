"""What the nightly DAG is made of: default args, schedule, Params, deadline and asset.

Called once per parse of the DAG files (through :mod:`matinale.airflow.glue`), so nothing
heavy is imported here; the task bodies live in ``glue``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from matinale.settings import cached_settings

__all__ = [
    "EDITION_ASSET",
    "deadline_alert",
    "default_args",
    "edition_asset",
    "nightly_params",
    "nightly_timetable",
]


def default_args() -> dict[str, Any]:
    from matinale.airflow.notify import MatinaleNotifier

    return {
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        # A task that fails for good (after its retries) alerts staff: log + webhook.
        "on_failure_callback": MatinaleNotifier(event="task_failed"),
    }


def nightly_timetable() -> Any:
    """The night starts at ``clocks.nightly_start`` in the campaign's zone, whatever the DST.

    A cron trigger read in the campaign's zone fires at 01:00 Paris every day: Airflow's own
    cron handling moves it to 19:00 or 20:00 Montréal as the clocks change, and 01:00 is
    outside both European change hours (settings refuse a start inside them). No custom
    timetable is needed; the edition date is derived from the run's ``run_after``.
    """
    from airflow.sdk import CronTriggerTimetable

    clocks = cached_settings().clocks
    start = clocks.nightly_start
    return CronTriggerTimetable(
        f"{start.minute} {start.hour} * * *",
        timezone=clocks.campaign_tz.key,
        # Unpausing never starts a night by surprise: the first run is the next start.
        # Airflow's default (False) still runs the past start if it is less than a tenth of a
        # day old (2 h 24 min), so a DAG unpaused at 02:00 Paris would publish at once, and
        # whether it does would depend on the hour. A late night is triggered on purpose.
        run_immediately=timedelta(0),
    )


def nightly_params() -> dict[str, Any]:
    from airflow.sdk import Param

    return {
        "edition_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Edition (Paris date) to build; empty = the morning this run serves",
        ),
        "segments": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Only these segment ids (empty = all). A partial run is a preview: it is never published.",
        ),
        "skip_visuals": Param(
            False, type="boolean", description="Build posts only: no card is drawn"
        ),
        "dry_run": Param(False, type="boolean", description="Everything but publish"),
    }


def deadline_alert() -> Any:
    """Alert at the publish deadline of the run's edition (campaign time) if still running."""
    # Defining modules: Airflow 3.3.2's airflow.sdk type stub omits these two exports.
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert

    from matinale.airflow.deadline import PublishDeadline
    from matinale.airflow.notify import MatinaleNotifier

    return DeadlineAlert(
        reference=PublishDeadline(),
        interval=timedelta(0),
        callback=AsyncCallback(MatinaleNotifier, kwargs={"event": "deadline_missed"}),
        name="publish_deadline",
    )


#: The published edition's Airflow asset: a DAG scheduled on ``[Asset.ref(name=EDITION_ASSET)]``
#: (or on ``edition_asset()``) runs after each publication.
EDITION_ASSET = "matinale_edition"


def edition_asset() -> Any:
    """The asset ``publish`` updates: ``matinale_edition``, URI ``x-matinale://edition``.

    The ``x-`` scheme is Airflow's custom one: no provider normalizes it, so declaring the
    asset imports nothing heavy at parse time (an ``s3://`` URI loads the Amazon provider and
    boto3), and it does not change with the bucket. Each event's ``extra`` says what was
    published: ``edition``, ``run``, ``bucket``, ``prefix`` and ``latest_moved`` (whether
    ``latest.json`` now names it).
    """
    from airflow.sdk import Asset

    return Asset(name=EDITION_ASSET, uri="x-matinale://edition", group="matinale")
