"""The publish deadline as an Airflow deadline reference: 06:30 Paris on the edition's morning.

Why not ``DeadlineReference.DAGRUN_LOGICAL_DATE`` plus 5 h 30: the night is 4 h 30 long on
the night Paris springs forward and 6 h 30 on the night it falls back, so a fixed interval
from the start alerts an hour late or an hour early twice a year; and a manual run started
at 03:30 Paris would get a deadline at 09:00. This reference asks ``matinale.schedule``
instead: the deadline of the edition the run works for, read on the campaign's clock.

The scheduler evaluates it when a run is created; it must be registered by the project's
Airflow plugin (``plugins/matinale_airflow.py``) so the scheduler can deserialize it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

# From its defining module: airflow.sdk exports it, but Airflow 3.3.2's type stub
# (airflow/sdk/__init__.pyi) omits it, so mypy would not see it there.
from airflow.sdk.definitions.deadline import BaseDeadlineReference

from matinale.schedule import deadline_after, night_of
from matinale.settings import Clocks, cached_settings

__all__ = ["PublishDeadline", "publish_deadline_for"]


def publish_deadline_for(
    run_after: datetime, conf: dict[str, Any] | None, clocks: Clocks
) -> datetime:
    """The deadline of a run: its chosen edition's, when still ahead, else the next one.

    A rerun of a past edition (``edition_date`` in the Params) is watched against the next
    deadline, so it is not reported late the moment it starts.
    """
    upcoming = deadline_after(run_after, clocks)
    chosen = (conf or {}).get("edition_date")
    if chosen:
        deadline = night_of(date.fromisoformat(str(chosen)), clocks).deadline
        if deadline > run_after:
            return deadline
    return upcoming


class PublishDeadline(BaseDeadlineReference):
    """Deadline reference: the publish deadline of the run's edition (campaign time)."""

    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session: Any, **kwargs: Any) -> datetime | None:
        # Core imports stay inside: DAG files import this module at parse time.
        from airflow.models import DagRun
        from sqlalchemy import select

        row = session.execute(
            select(DagRun.run_after, DagRun.conf).where(
                DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"]
            )
        ).one_or_none()
        if row is None:
            return None
        return publish_deadline_for(row[0], row[1], cached_settings().clocks)
