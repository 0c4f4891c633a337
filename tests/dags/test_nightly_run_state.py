"""A night whose publish failed is a failed run in Airflow, never green.

The run's colour is Airflow's own rule (``DagRun._tis_for_dagrun_state``: the "effective
leaves", teardowns aside) applied to the task states the trigger rules give when one task of
the real nightly DAG fails; no scheduler, no database. ``record`` is a teardown: it never
counts. A night the gate stops (electoral silence, dry run) ends green, with its reason in
the status record.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
_FAILED = {"failed", "upstream_failed"}


class _TI(NamedTuple):
    """What Airflow's rule reads of a task instance (hashable, as it puts them in a set)."""

    task_id: str
    state: str


@pytest.fixture(scope="module")
def nightly():
    from airflow.dag_processing.dagbag import DagBag

    from matinale.settings import cached_settings

    cached_settings.cache_clear()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags["matinale_nightly"]


def _states(dag, given: dict[str, str], short_circuited: str | None = None) -> dict[str, str]:
    """Every task's final state from ``given`` ones, as the trigger rules decide them."""
    states = dict(given)
    skipped_by_gate = dag.get_task(short_circuited).downstream_task_ids if short_circuited else ()
    for task in dag.topological_sort():
        if task.task_id in states:
            continue
        upstream = [states[t] for t in task.upstream_task_ids]
        if str(task.trigger_rule) == "all_done":
            states[task.task_id] = "success"
        elif any(s in _FAILED for s in upstream):
            states[task.task_id] = "upstream_failed"
        elif any(s == "skipped" for s in upstream) or task.task_id in skipped_by_gate:
            states[task.task_id] = "skipped"
        else:
            states[task.task_id] = "success"
    return states


def _run_state(dag, states: dict[str, str]) -> str:
    from airflow.models.dagrun import DagRun

    tis = [_TI(t, s) for t, s in states.items()]
    leaves = DagRun._tis_for_dagrun_state(None, dag=dag, tis=tis)  # type: ignore[arg-type]
    if any(ti.state in _FAILED for ti in leaves):
        return "failed"
    assert all(ti.state in {"success", "skipped"} for ti in leaves)
    return "success"


def test_record_is_a_teardown_and_never_the_runs_colour(nightly) -> None:
    from airflow.models.dagrun import DagRun

    tis = [_TI(t, "success") for t in nightly.task_ids]
    leaves = {ti.task_id for ti in DagRun._tis_for_dagrun_state(None, dag=nightly, tis=tis)}  # type: ignore[arg-type]
    assert "record" not in leaves and "publish" in leaves


@pytest.mark.parametrize(
    "task_id",
    [
        "wait_for_brief",
        "prepare",
        "ingest",
        "privacy",
        "segment",
        "plan",
        "content",
        "visuals",
        "contact_sheet",
        "bundle",
        "checks",
        "gate",
        "publish",
    ],
)
def test_any_failed_task_fails_the_run(nightly, task_id: str) -> None:
    states = _states(nightly, {task_id: "failed"})
    assert states["publish"] in _FAILED | {"failed"}
    assert _run_state(nightly, states) == "failed", f"{task_id} failed and the run is green"


def test_a_failed_record_leaves_a_published_night_green(nightly) -> None:
    states = _states(nightly, {"record": "failed"})
    assert states["publish"] == "success" and _run_state(nightly, states) == "success"


def test_a_night_the_gate_stops_is_green(nightly) -> None:
    """Electoral silence, dry run, partial run: the gate short-circuits, publish is skipped."""
    states = _states(nightly, {}, short_circuited="gate")
    assert states["publish"] == "skipped"
    assert _run_state(nightly, states) == "success"


def test_a_night_with_no_batch_fails_at_plan(nightly) -> None:
    """plan refuses an empty night (glue.NothingToBuild: test_glue), so the run is failed,
    not green with content and visuals mapped over nothing and every task up to publish
    skipped."""
    states = _states(nightly, {"plan": "failed"})
    assert states["publish"] != "success"
    assert _run_state(nightly, states) == "failed"
