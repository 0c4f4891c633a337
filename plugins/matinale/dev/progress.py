"""What ``make run`` prints while the night runs: one line per stage as it ends, then the error.

``airflow dags test`` writes everything (task logs, tracebacks) to ``var/logs/run.log``; the
terminal gets a short table instead. :class:`RunWatcher` reads the run's task instances and
their XCom summaries from the Airflow home's SQLite database (read-only, while the run goes
on) and yields each stage once all its instances have ended; :func:`stage_line` formats one
row from the summaries the stages return (``matinale.night``: counts only, never supporter
data). On failure, :func:`failure_message` finds the failing task's error in the log: the
message of the Matinale error ``glue.task_errors`` failed it with, in plain words, without
the traceback.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "RunWatcher",
    "StageEnd",
    "failure_message",
    "stage_line",
    "table_header",
]

#: Per stage: the summary's counts shown, in order, with their label (summed over a mapped
#: stage's instances). A stage not listed shows its first few integer counts.
_COUNTS: dict[str, tuple[tuple[str, str], ...]] = {
    "ingest": (("rows_read", "rows read"), ("valid", "valid"), ("quarantined", "quarantined")),
    "privacy": (("adults", "adults"), ("minors_excluded", "minors excluded")),
    "segment": (("segments", "segments"), ("main", "main"), ("territorial", "territorial")),
    "content": (("segments", "segments"), ("posts", "posts")),
    "visuals": (("segments", "segments"), ("cards", "cards")),
    "contact_sheet": (("segments", "segments"), ("pages", "pages")),
    "bundle": (("segments", "segments"), ("files", "files")),
    "checks": (("manifest", "manifest"), ("sizes", "sizes"), ("links", "links"), ("pii", "pii")),
    "publish": (("files", "files"),),
}
#: Stages whose summary holds no count: what their success means.
_DONE = {"wait_for_brief": "brief found", "approval": "approved"}
_ENDED = {"success", "failed", "skipped", "upstream_failed", "removed"}
# Instances that never ran: their stage gets no line (the failed one above says why).
_NOT_RUN = {"upstream_failed", "removed"}
_NAME_WIDTH = 15


@dataclass(frozen=True)
class StageEnd:
    """A stage whose every task instance has ended: its state, seconds and summaries."""

    name: str
    state: str  # the worst state among its instances
    seconds: float
    summaries: list[Any] = field(default_factory=list)
    instances: int = 1


def _plural(count: int, label: str) -> str:
    if count == 1 and label.endswith("s") and " " not in label:
        label = label[:-1]
    return f"{count} {label}"


def _counts(name: str, summaries: Sequence[Any]) -> str:
    dicts = [s for s in summaries if isinstance(s, Mapping)]
    if name == "checks":
        findings = sum(int(v) for s in dicts for v in s.values() if isinstance(v, int))
        return f"{findings} findings ({', '.join(key for key, _ in _COUNTS['checks'])})"
    keys = (
        _COUNTS.get(name)
        or tuple(
            (k, k.replace("_", " "))
            for k, v in (dicts[0].items() if dicts else ())
            if isinstance(v, int) and not isinstance(v, bool)
        )[:4]
    )
    parts = [
        _plural(sum(int(s.get(key) or 0) for s in dicts), label)
        for key, label in keys
        if any(key in s for s in dicts)
    ]
    if name == "bundle" and dicts:
        parts.append(f"{sum(int(s.get('bytes') or 0) for s in dicts) / 1e6:.1f} MB")
    if name == "publish" and dicts and dicts[0].get("latest_moved"):
        parts.append("latest.json moved")
    return ", ".join(parts)


def _result(stage: StageEnd) -> str:
    if stage.state == "failed":
        return "FAILED"
    if stage.state == "skipped":
        return "skipped"
    if stage.state != "success":
        return stage.state.replace("_", " ")
    values = stage.summaries
    if stage.name == "plan" and values and isinstance(values[0], list):
        return _plural(len(values[0]), "batches of segments")
    if stage.name == "gate" and values:
        return "may publish" if values[0] is True else "will not publish"
    if stage.name == "prepare" and values and isinstance(values[0], Mapping):
        return f"run {values[0].get('run', '?')}"
    if stage.name == "record" and values and isinstance(values[0], Mapping):
        return f"night {values[0].get('state', '?')}"
    return _counts(stage.name, values) or _DONE.get(stage.name, "done")


def table_header() -> str:
    """The table's first line."""
    return f"  {'stage':<{_NAME_WIDTH}} {'seconds':>7}  result"


def stage_line(stage: StageEnd) -> str:
    """One row: the stage's name (with its instance count when mapped), seconds and counts."""
    name = stage.name if stage.instances <= 1 else f"{stage.name} ×{stage.instances}"
    return f"  {name:<{_NAME_WIDTH}} {stage.seconds:>7.1f}  {_result(stage)}"


# -- reading the run as it goes ---------------------------------------------------------------


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _decode(value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_WORST = ("failed", "upstream_failed", "skipped", "removed", "success")


class RunWatcher:
    """The stages of one DAG run that have ended, read from Airflow's SQLite database.

    The run is the newest run of ``dag_id`` that was not there when the watcher was made
    (``airflow dags test`` names its own run).
    """

    def __init__(self, database: Path, dag_id: str) -> None:
        self.database = database
        self.dag_id = dag_id
        self.run_id: str | None = None
        self._before = set(self._runs()) if database.exists() else set()
        self._shown: set[str] = set()

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5) as conn:
                return list(conn.execute(sql, params))
        except sqlite3.OperationalError:  # not created yet, or busy for a moment: next poll
            return []

    def _runs(self) -> list[str]:
        rows = self._query(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id", (self.dag_id,)
        )
        return [str(row[0]) for row in rows]

    def ended(self) -> Iterator[StageEnd]:
        """The stages that have ended since the last call, in the order they ended."""
        if self.run_id is None:
            new = [run for run in self._runs() if run not in self._before]
            if not new:
                return
            self.run_id = new[-1]
        rows = self._query(
            "SELECT task_id, map_index, state, start_date, end_date FROM task_instance "
            "WHERE dag_id = ? AND run_id = ?",
            (self.dag_id, self.run_id),
        )
        by_task: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_task.setdefault(str(row[0]), []).append(row)
        done = []
        for task_id, instances in by_task.items():
            if task_id in self._shown or not all(r[2] in _ENDED for r in instances):
                continue
            if any(r[1] == -1 for r in instances) and len(instances) > 1:
                continue  # a mapped task being expanded
            done.append((max(_when(r[4]) or datetime.min for r in instances), task_id, instances))
        for _, task_id, instances in sorted(done, key=lambda item: (item[0], item[1])):
            self._shown.add(task_id)
            states = {str(r[2]) for r in instances}
            if states <= _NOT_RUN:
                continue
            starts = [t for r in instances if (t := _when(r[3]))]
            ends = [t for r in instances if (t := _when(r[4]))]
            seconds = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
            yield StageEnd(
                name=task_id,
                state=next((s for s in _WORST if s in states), sorted(states)[0]),
                seconds=seconds,
                summaries=self._summaries(task_id),
                instances=len(instances),
            )

    def _summaries(self, task_id: str) -> list[Any]:
        rows = self._query(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? "
            "AND key = 'return_value' ORDER BY map_index",
            (self.dag_id, self.run_id or "", task_id),
        )
        return [_decode(row[0]) for row in rows]

    def failed_tasks(self) -> list[str]:
        """The run's failed tasks, in the order they ended."""
        rows = self._query(
            "SELECT DISTINCT task_id FROM task_instance WHERE dag_id = ? AND run_id = ? "
            "AND state = 'failed' ORDER BY end_date",
            (self.dag_id, self.run_id or ""),
        )
        return [str(row[0]) for row in rows]


# -- the error, from the log ------------------------------------------------------------------

_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_FAIL = "AirflowFailException: "
_EXCEPTION = re.compile(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit): ")
_MAX_LINES = 12


def failure_message(log_text: str) -> str | None:
    """The message of the last error a task failed with, from ``airflow dags test``'s output.

    ``glue.task_errors`` fails a task with an ``AirflowFailException`` carrying the Matinale
    error's message (what is wrong, where, what to do; one or more lines): that message is
    returned, without its type. Another error (retries exhausted) gives its last exception
    line, type included. None when the log shows no failed task.
    """
    lines = log_text.splitlines()
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if _LOG_LINE.match(line):
            current = [] if "Task failed with exception" in line else None
            if current is not None:
                blocks.append(current)
        elif current is not None:
            current.append(line)
    if not blocks:
        return None
    block = blocks[-1]
    start = next((i for i in range(len(block) - 1, -1, -1) if _FAIL in block[i]), None)
    if start is not None:
        first = block[start].split(_FAIL, 1)[1]
    else:
        start = next((i for i in range(len(block) - 1, -1, -1) if _EXCEPTION.match(block[i])), None)
        if start is None:
            return None
        first = block[start]
    rest = [line for line in block[start + 1 :] if line.strip()]
    message = [first, *rest[: _MAX_LINES - 1]]
    if len(rest) >= _MAX_LINES:
        message.append(f"… ({len(rest) - _MAX_LINES + 1} more lines in the log)")
    return "\n".join(message).strip()
