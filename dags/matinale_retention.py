"""
### Matinale — retention of personal data

Every day at 12:00 Paris, deletes per-person files that are no longer needed (GDPR storage
limitation): each run's `private/` folder in the work store (valid rows, quarantine,
features, contacts, assignments) and its delivery file in the private bucket once its
edition is older than `retention.private_outputs_days`, older supporter exports in the
inbox, and — from
`retention.campaign_end` + `retention.after_end_days` on — every per-person file.
In the bundle bucket, editions older than `retention.published_editions_days` (400; null
keeps them) go, never the one `latest.json` names, and so do runs no pointer ever named
(a publish that failed with S3 down), once a day old; nothing there is touched while the
pointers are split. The log and the task's XCom give counts only. Param `dry_run` reports
what would go without deleting; `matinale retention [--dry-run]` runs the same purge from a
shell, and `make up` runs it once at start.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from matinale.airflow import glue
from matinale.settings import cached_settings


@dag(
    dag_id="matinale_retention",
    # Midday in Paris: never during the night, whose run may still be reading the files.
    schedule=CronTriggerTimetable("0 12 * * *", timezone=cached_settings().clocks.campaign_tz.key),
    catchup=False,
    max_active_runs=1,
    default_args={**glue.default_args(), "retry_delay": timedelta(minutes=5)},
    tags=["matinale", "retention", "gdpr"],
    doc_md=__doc__,
    params={
        "dry_run": Param(
            False, type="boolean", description="Count what would be deleted; delete nothing"
        )
    },
)
def matinale_retention():
    # Deleting a month of runs' private folders takes seconds; an hour is a hung store.
    @task(execution_timeout=timedelta(hours=1))
    def purge() -> dict:
        return glue.retention(get_current_context())

    purge()


matinale_retention()
