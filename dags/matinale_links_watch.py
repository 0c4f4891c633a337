"""
### Matinale — is the link service reachable?

Every day at 07:00 Paris (activists open their links from then on), GETs
`<links.public_base_url>/healthz` from outside, with a short timeout. When it cannot be
reached or does not say it is healthy, staff are alerted through the night's webhook
(connection `matinale_alerts`), in French. Nothing to check when `links.public_base_url`
is empty. The logic is in `matinale.airflow.links_watch`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronTriggerTimetable, dag, task

from matinale.airflow import glue
from matinale.settings import cached_settings


@dag(
    dag_id="matinale_links_watch",
    schedule=CronTriggerTimetable("0 7 * * *", timezone="Europe/Paris"),
    catchup=False,
    max_active_runs=1,
    # Retries only follow an error of the check itself (the webhook refused the alert).
    default_args=glue.default_args(),
    tags=["matinale", "links"],
    doc_md=__doc__,
)
def matinale_links_watch():
    @task(execution_timeout=timedelta(minutes=2))
    def check() -> dict:
        from matinale.airflow.links_watch import check_links

        return check_links(cached_settings())

    check()


matinale_links_watch()
