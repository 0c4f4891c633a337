"""Every DAG imports cleanly and follows the project's conventions; parse cost is measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
HEAVY = ("pandas", "sklearn", "PIL", "pyarrow", "numpy", "boto3", "scipy", "fastapi")
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    from matinale.settings import cached_settings

    cached_settings.cache_clear()
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert {"matinale_nightly", "matinale_retention"} <= set(dagbag.dags)


def test_conventions(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no doc_md"
        assert dag.catchup is False, f"{dag_id} must not catch up"
        assert dag.max_active_runs == 1, f"{dag_id} must run one at a time"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 2, f"{dag_id}.{task.task_id} has retries < 2"
            assert task.on_failure_callback, f"{dag_id}.{task.task_id} does not alert on failure"


def test_nightly_shape(dagbag) -> None:
    dag = dagbag.dags["matinale_nightly"]
    assert {
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
        "record",
    } == set(dag.task_ids)
    assert "wait_for_brief" in dag.get_task("prepare").upstream_task_ids
    assert {"content", "visuals", "contact_sheet"} <= dag.get_task("bundle").upstream_task_ids
    assert (
        "visuals" in dag.get_task("contact_sheet").upstream_task_ids
    )  # the sheet shows every card of the night
    assert dag.get_task("checks").upstream_task_ids == {"bundle", "prepare"}
    assert "checks" in dag.get_task("gate").upstream_task_ids
    assert "gate" in dag.get_task("publish").upstream_task_ids  # approval off by default
    record = dag.get_task("record")
    assert record.is_teardown and set(dag.task_ids) - {"record"} <= record.upstream_task_ids
    assert dag.get_task("wait_for_brief").deferrable
    assert set(dag.params) == {"edition_date", "segments", "skip_visuals", "dry_run"}
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 1 * * *", "Europe/Paris")
    # after downtime, wait for the next night (False would still run a start < 2 h 24 min old)
    assert dag.timetable.run_immediately == timedelta(0), "after downtime, wait for the next night"
    # The doc shows the next nights in both zones and UTC.
    assert "start Montréal" in dag.doc_md and "deadline UTC" in dag.doc_md


def test_nightly_deadline_alert_is_the_publish_deadline(dagbag) -> None:
    from matinale.airflow.deadline import PublishDeadline

    alerts = dagbag.dags["matinale_nightly"].deadline
    alerts = alerts if isinstance(alerts, list) else [alerts]
    assert len(alerts) == 1 and isinstance(alerts[0].reference, PublishDeadline)
    assert alerts[0].callback.path == "matinale.airflow.notify.MatinaleNotifier"
    assert alerts[0].callback.kwargs == {"event": "deadline_missed"}


def _in_subprocess(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_approval_on_puts_hitl_between_gate_and_publish() -> None:
    code = (
        "import json\nfrom airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "dag = bag.dags['matinale_nightly']\napproval = dag.get_task('approval')\n"
        "print(json.dumps({'type': type(approval).__mro__[1].__name__, 'defaults': approval.defaults,"
        " 'up': sorted(approval.upstream_task_ids), 'publish_up': sorted(dag.get_task('publish').upstream_task_ids),"
        " 'subject': approval.subject, 'body': approval.body}))"
    )
    found = json.loads(_in_subprocess(code, MATINALE_APPROVAL="on"))
    assert found["type"] == "ApprovalOperator"
    assert found["defaults"] == ["Reject"], "no answer must mean: not published"
    assert (
        found["up"] == ["gate"]
        and "approval" in found["publish_up"]
        and "gate" not in found["publish_up"]
    )
    assert "approval_body" in found["body"] and "Publier l'édition" in found["subject"]


# The nightly graph as it must stay: task id → (upstream task ids, mapped over batches).
# Spelled out here, not built from matinale.night: renaming a task or moving an edge fails.
NIGHTLY_GRAPH = {
    "wait_for_brief": ([], False),
    "prepare": (["wait_for_brief"], False),
    "ingest": (["prepare"], False),
    "privacy": (["ingest", "prepare"], False),
    "segment": (["prepare", "privacy"], False),
    "plan": (["prepare", "segment"], False),
    "content": (["plan", "prepare"], True),
    "visuals": (["plan", "prepare"], True),
    "contact_sheet": (["prepare", "visuals"], False),
    "bundle": (["contact_sheet", "content", "prepare", "visuals"], False),
    "checks": (["bundle", "prepare"], False),
    "gate": (["checks", "prepare"], False),
    "publish": (["gate", "prepare"], False),
    "record": (
        [
            "bundle",
            "checks",
            "contact_sheet",
            "content",
            "gate",
            "ingest",
            "plan",
            "prepare",
            "privacy",
            "publish",
            "segment",
            "visuals",
            "wait_for_brief",
        ],
        False,
    ),
}
# With MATINALE_APPROVAL=on, staff approval sits between gate and publish.
APPROVAL_GRAPH = {
    **NIGHTLY_GRAPH,
    "approval": (["gate"], False),
    "publish": (["approval", "prepare"], False),
    "record": (sorted([*NIGHTLY_GRAPH["record"][0], "approval"]), False),
}
_GRAPH_CODE = (
    "import json\nfrom airflow.dag_processing.dagbag import DagBag\n"
    "from airflow.sdk.definitions.mappedoperator import MappedOperator\n"
    f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
    "assert not bag.import_errors, bag.import_errors\n"
    "dag = bag.dags['matinale_nightly']\n"
    "print(json.dumps({t.task_id: [sorted(t.upstream_task_ids), isinstance(t, MappedOperator)] for t in dag.tasks}))"
)


def _graph(dag) -> dict[str, tuple[list[str], bool]]:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    return {
        task.task_id: (sorted(task.upstream_task_ids), isinstance(task, MappedOperator))
        for task in dag.tasks
    }


def test_nightly_graph_is_unchanged(dagbag) -> None:
    assert _graph(dagbag.dags["matinale_nightly"]) == NIGHTLY_GRAPH


def test_nightly_graph_with_approval_is_unchanged() -> None:
    found = json.loads(_in_subprocess(_GRAPH_CODE, MATINALE_APPROVAL="on"))
    assert {task: (up, mapped) for task, (up, mapped) in found.items()} == APPROVAL_GRAPH


def test_the_dag_runs_every_stage_of_the_night(dagbag) -> None:
    """One task per stage of matinale.night.STAGES (task id = stage name), mapped as the stage says."""
    from matinale.night import STAGES, TASKS

    dag = dagbag.dags["matinale_nightly"]
    for stage in STAGES:
        assert stage.name in dag.task_ids, f"stage {stage.name} has no task"
        assert _graph(dag)[stage.name][1] == stage.mapped, stage.name
    assert set(APPROVAL_GRAPH) == set(TASKS), "night.TASKS lists every task of the nightly DAG"


def test_timetable_fires_every_night_of_2026_2027_at_the_campaign_start(dagbag) -> None:
    """Airflow's own timetable (as the scheduler uses it) against matinale.schedule."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    from matinale.schedule import edition_for, night_of
    from matinale.settings import cached_settings

    clocks = cached_settings().clocks
    timetable = coerce_to_core_timetable(dagbag.dags["matinale_nightly"].timetable)
    restriction = TimeRestriction(
        earliest=datetime(2025, 12, 31, tzinfo=UTC), latest=None, catchup=True
    )
    last: DataInterval | None = None
    expected = date(2026, 1, 1)
    while expected <= date(2027, 12, 31):
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        assert info is not None
        run_after = info.run_after
        if edition_for(run_after, clocks) < expected:
            last = info.data_interval
            continue
        assert edition_for(run_after, clocks) == expected
        assert run_after == night_of(expected, clocks).start, expected
        last = info.data_interval
        expected += timedelta(days=1)


def test_no_heavy_imports_and_parse_cost() -> None:
    """No heavy import at parse time; each file's parse cost beyond Airflow itself is measured.

    One process for all files (Airflow's own import is the slow part); a later file reuses
    the matinale modules an earlier one imported, so the first file carries the shared cost.
    """
    files = sorted(DAGS.glob("*.py"), key=lambda p: p.name != "matinale_nightly.py")
    code = (
        "import json, sys, time, runpy\n"
        "import airflow.sdk, airflow.providers.standard.operators.hitl, airflow.triggers.base\n"
        "found = {}\n"
        f"for path in {[str(f) for f in files]!r}:\n"
        "    before = set(sys.modules); start = time.perf_counter()\n"
        "    runpy.run_path(path)\n"
        "    found[path.rsplit('/', 1)[-1]] = {'seconds': round(time.perf_counter() - start, 3),"
        " 'new_modules': len(set(sys.modules) - before)}\n"
        f"found['heavy'] = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps(found))\n"
    )
    found = json.loads(_in_subprocess(code))
    assert found.pop("heavy") == [], "a DAG file imports a heavy module at parse time"
    assert set(found) == {f.name for f in files}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dag_parse.json").write_text(json.dumps(found, indent=1, sort_keys=True))
    for name, cost in found.items():
        print(
            f"{name}: parsed in {cost['seconds']} s beyond Airflow, {cost['new_modules']} new modules"
        )
