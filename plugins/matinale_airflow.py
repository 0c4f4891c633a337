"""Matinale's one Airflow plugin: the publish-deadline reference and the "Matinale" view.

- ``deadline_references``: the scheduler needs ``PublishDeadline`` registered to evaluate the
  nightly DAG's deadline alert (06:30 Paris on the edition's morning, DST-proof).
- ``fastapi_apps`` + ``external_views``: the Matinale view, served by the API server under
  ``/matinale/`` and linked in the UI's navigation. Its routes check the Airflow login
  (the UI's JWT cookie or a Bearer token) and read access to the nightly DAG; they serve
  counts, segment sizes, the bundle's public content and previews — never a supporter's data.

The schedule itself is a plain ``CronTriggerTimetable`` in the campaign's zone, so no custom
timetable is registered here (see ``matinale.airflow.glue.nightly_timetable``).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from matinale.airflow.deadline import PublishDeadline
from matinale.airflow.view import ViewApp

__all__ = ["MatinalePlugin"]


class MatinalePlugin(AirflowPlugin):
    name = "matinale"
    deadline_references = [PublishDeadline]
    # ViewApp builds the FastAPI app on its first request: only the API server pays for it.
    fastapi_apps = [{"app": ViewApp(), "url_prefix": "/matinale", "name": "Matinale"}]
    external_views = [
        {
            "name": "Matinale",
            "href": "/matinale/",
            "destination": "nav",
            "url_route": "matinale",
            # A top-level entry of the UI's side bar: staff come here first at 06:00.
            "nav_top_level": True,
        }
    ]
