"""Wait for the evening brief, deferrably, until the cut-off; then fail with a clear message.

Publishing yesterday's messages by accident is worse than publishing late, so a missing
brief at the cut-off stops the night (no retry: the cut-off will not come back) and the
task's failure alert tells staff what to do. Any other error goes through
``glue.task_errors``, like every task: a wrong setting fails at once, a transient one retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from matinale.errors import MatinaleError
from matinale.schedule import night_of, two_clocks
from matinale.settings import Settings, cached_settings

__all__ = ["BriefMissing", "BriefSensor", "BriefTrigger", "brief_file"]


class BriefMissing(MatinaleError, AirflowFailException):
    """The brief of the edition was not in the inbox at the cut-off."""


def brief_file(settings: Settings, edition: date) -> Path:
    """Where the evening brief of ``edition`` must be dropped."""
    return settings.inbox / "briefs" / f"{edition.isoformat()}.yaml"


def _missing_message(settings: Settings, edition: date, path: Path) -> str:
    cutoff = night_of(edition, settings.clocks).brief_cutoff
    return (
        f"No brief for edition {edition.isoformat()} at the cut-off {two_clocks(cutoff, settings.clocks)}: "
        f"expected {path}. Nothing will be published from this run. Drop the brief there (its "
        f"'edition' must be {edition.isoformat()}) and clear the task 'wait_for_brief' to rerun the night, "
        "or trigger the DAG with the Param edition_date."
    )


class BriefTrigger(BaseTrigger):
    """Polls for a file until a fixed instant, in the triggerer (no worker slot held)."""

    def __init__(self, path: str, cutoff: str, poke_seconds: float = 30.0) -> None:
        super().__init__()
        self.path = path
        self.cutoff = cutoff
        self.poke_seconds = poke_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "matinale.airflow.sensors.BriefTrigger",
            {"path": self.path, "cutoff": self.cutoff, "poke_seconds": self.poke_seconds},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        cutoff = datetime.fromisoformat(self.cutoff)
        while True:
            if await asyncio.to_thread(Path(self.path).is_file):
                yield TriggerEvent({"status": "found", "path": self.path})
                return
            left = (cutoff - datetime.now(UTC)).total_seconds()
            if left <= 0:
                yield TriggerEvent({"status": "missed", "path": self.path})
                return
            await asyncio.sleep(min(self.poke_seconds, left))


class BriefSensor(BaseSensorOperator):
    """Succeeds as soon as ``inbox/briefs/<edition>.yaml`` exists; fails at the brief cut-off.

    The edition comes from ``edition_of(context)``: the Param ``edition_date`` or the Paris
    morning the run serves. Deferrable by default: the wait costs no worker slot.
    """

    def __init__(
        self, *, poke_seconds: float = 30.0, deferrable: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(poke_interval=poke_seconds, **kwargs)
        self.poke_seconds = poke_seconds
        self.deferrable = deferrable

    def _edition(self, context: Any) -> date:
        from matinale.airflow.glue import edition_of

        return edition_of(context)

    def poke(self, context: Any) -> bool:
        settings = cached_settings()
        edition = self._edition(context)
        path = brief_file(settings, edition)
        if path.is_file():
            self.log.info("Brief for %s found: %s", edition, path)
            return True
        if datetime.now(UTC) >= night_of(edition, settings.clocks).brief_cutoff:
            raise BriefMissing(_missing_message(settings, edition, path))
        return False

    def execute(self, context: Any) -> Any:
        from matinale.airflow.glue import task_errors

        with task_errors():
            return self._execute(context)

    def _execute(self, context: Any) -> Any:
        settings = cached_settings()
        edition = self._edition(context)
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        cutoff = night_of(edition, settings.clocks).brief_cutoff
        self.log.info(
            "Waiting for %s until the cut-off %s (deferred to the triggerer)",
            brief_file(settings, edition),
            two_clocks(cutoff, settings.clocks),
        )
        self.defer(
            trigger=BriefTrigger(
                str(brief_file(settings, edition)),
                cutoff.astimezone(UTC).isoformat(),
                self.poke_seconds,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        from matinale.airflow.glue import task_errors

        with task_errors():
            self._complete(context, event)

    def _complete(self, context: Any, event: dict[str, Any]) -> None:
        if event.get("status") == "found":
            self.log.info("Brief found: %s", event["path"])
            return
        settings = cached_settings()
        raise BriefMissing(_missing_message(settings, self._edition(context), Path(event["path"])))
