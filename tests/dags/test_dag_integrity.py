"""Every DAG imports cleanly and follows the project's conventions; parse cost is measured."""

from __future__ import annotations

import json
import os
import shutil
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
        "learn",
        "plan",
        "content",
        "visuals",
        "contact_sheet",
        "bundle",
        "checks",
        "gate",
        "approval",
        "publish",
        "record",
    } == set(dag.task_ids)
    assert "wait_for_brief" in dag.get_task("prepare").upstream_task_ids
    assert {"content", "visuals", "contact_sheet"} <= dag.get_task("bundle").upstream_task_ids
    assert (
        "visuals" in dag.get_task("contact_sheet").upstream_task_ids
    )  # the sheet shows every card of the night
    assert dag.get_task("checks").upstream_task_ids == {"bundle"}
    assert "checks" in dag.get_task("gate").upstream_task_ids
    # Approval is always in the graph (it skips itself when off), between gate and publish.
    assert dag.get_task("approval").upstream_task_ids == {"gate"}
    assert dag.get_task("publish").upstream_task_ids == {"approval"}
    record = dag.get_task("record")
    assert record.is_teardown and set(dag.task_ids) - {"record"} <= record.upstream_task_ids
    assert dag.get_task("wait_for_brief").deferrable
    assert set(dag.params) == {"edition_date", "segments", "skip_visuals", "dry_run"}
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 1 * * *", "Europe/Paris")
    # after downtime, wait for the next night (False would still run a start < 2 h 24 min old)
    assert dag.timetable.run_immediately == timedelta(0), "after downtime, wait for the next night"
    # The next nights (both zones and UTC) are in the Matinale view, not in the doc: the doc
    # says where to find them and stays the same every day (see test_nightly_doc_is_static).
    assert "Matinale view" in dag.doc_md and "matinale schedule" in dag.doc_md


def test_nightly_deadline_alert_is_the_publish_deadline(dagbag) -> None:
    from matinale.airflow.deadline import PublishDeadline

    alerts = dagbag.dags["matinale_nightly"].deadline
    alerts = alerts if isinstance(alerts, list) else [alerts]
    assert len(alerts) == 1 and isinstance(alerts[0].reference, PublishDeadline)
    assert alerts[0].callback.path == "matinale.airflow.notify.MatinaleNotifier"
    assert alerts[0].callback.kwargs == {"event": "deadline_missed"}


def _in_subprocess(code: str, **env: str | None) -> str:
    """Run ``code`` in a fresh Python (env: a value sets a variable, None removes it)."""
    environ = {**os.environ, **{k: v for k, v in env.items() if v is not None}}
    for name in [k for k, v in env.items() if v is None]:
        environ.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env=environ,
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
        " 'options': approval.options,"
        " 'up': sorted(approval.upstream_task_ids), 'publish_up': sorted(dag.get_task('publish').upstream_task_ids),"
        " 'subject': approval.subject, 'body': approval.body}))"
    )
    found = json.loads(_in_subprocess(code, MATINALE_APPROVAL="on"))
    assert found["type"] == "ApprovalOperator"
    assert found["options"] == ["Publier", "Ne pas publier"], "staff's buttons are in French"
    assert found["defaults"] == ["Ne pas publier"], "no answer must mean: not published"
    assert (
        found["up"] == ["gate"]
        and "approval" in found["publish_up"]
        and "gate" not in found["publish_up"]
    )
    assert "approval_body" in found["body"] and "Publier l’édition" in found["subject"]


# The nightly graph as it must stay: task id → (upstream task ids, mapped over batches).
# Spelled out here, not built from matinale.night: renaming a task or moving an edge fails.
# One shape whatever MATINALE_APPROVAL says: approval is always there and skips itself when off.
NIGHTLY_GRAPH = {
    "wait_for_brief": ([], False),
    "prepare": (["wait_for_brief"], False),
    "ingest": (["prepare"], False),
    "privacy": (["ingest"], False),
    "segment": (["privacy"], False),
    "learn": (["segment"], False),
    "plan": (["learn"], False),
    "content": (["plan"], True),
    "visuals": (["plan"], True),
    "contact_sheet": (["visuals"], False),
    "bundle": (["contact_sheet", "content", "visuals"], False),
    "checks": (["bundle"], False),
    "gate": (["checks"], False),
    "approval": (["gate"], False),
    "publish": (["approval"], False),
    "record": (
        [
            "approval",
            "bundle",
            "checks",
            "contact_sheet",
            "content",
            "gate",
            "ingest",
            "learn",
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


@pytest.mark.parametrize("approval", ["on", "off"])
def test_nightly_graph_is_the_same_with_approval_on_or_off(approval: str) -> None:
    found = json.loads(_in_subprocess(_GRAPH_CODE, MATINALE_APPROVAL=approval))
    assert {task: (up, mapped) for task, (up, mapped) in found.items()} == NIGHTLY_GRAPH


def test_only_the_chains_first_task_hangs_off_prepare(dagbag) -> None:
    """The run's context flows along the chain: no edge from prepare to every task.

    Only ingest (the first stage after prepare) and the status record (a teardown after
    every task) have prepare upstream; every other task reads the context from prepare's
    XCom, so prepare must be among its ancestors.
    """
    dag = dagbag.dags["matinale_nightly"]
    direct = {t.task_id for t in dag.tasks if "prepare" in t.upstream_task_ids}
    assert direct == {"ingest", "record"}
    for task in dag.tasks:
        if task.task_id not in {"wait_for_brief", "prepare"}:
            assert "prepare" in task.get_flat_relative_ids(upstream=True), task.task_id


def test_publish_runs_after_a_skipped_approval_only(dagbag) -> None:
    """Approval off skips approval: publish still runs (none_failed); the gate's "no" and a
    refusal skip publish directly, so they never rely on its trigger rule."""
    dag = dagbag.dags["matinale_nightly"]
    assert dag.get_task("publish").trigger_rule == "none_failed"
    assert dag.get_task("gate").ignore_downstream_trigger_rules is True
    assert dag.get_task("approval").trigger_rule == "all_success"


def test_approval_skips_itself_when_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real operator's execute, approval off: a skip before anyone is asked."""
    from airflow.sdk.exceptions import AirflowSkipException

    from matinale.airflow.approval import EditionApproval
    from matinale.settings import cached_settings

    class Ti:
        def xcom_pull(self, **kwargs: object) -> object:
            raise AssertionError("approval off must not read the gate's decision")

    monkeypatch.setenv("MATINALE_APPROVAL", "off")
    cached_settings.cache_clear()
    try:
        with pytest.raises(AirflowSkipException, match="MATINALE_APPROVAL"):
            EditionApproval(task_id="approval").execute({"ti": Ti()})
    finally:
        cached_settings.cache_clear()


def test_nightly_doc_has_no_date(dagbag) -> None:
    import re

    doc = dagbag.dags["matinale_nightly"].doc_md
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}|\d{1,2}:\d{2} UTC", doc), doc


_DOC_CODE = (
    "import hashlib, datetime\nfrom airflow.dag_processing.dagbag import DagBag\n"
    f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
    "assert not bag.import_errors, bag.import_errors\n"
    "doc = bag.dags['matinale_nightly'].doc_md\n"
    "print(datetime.date.today().isoformat(), hashlib.sha256(doc.encode()).hexdigest())"
)


@pytest.mark.skipif(
    shutil.which("faketime") is None, reason="needs faketime (scripts/system-deps.sh)"
)
def test_nightly_doc_is_static() -> None:
    """Parsed on two days (clock frozen by faketime), the doc is byte for byte the same: Airflow
    records a new DAG version only when the DAG changes, not every day."""
    found = []
    for day in ("2026-11-24 12:00:00", "2026-11-25 12:00:00"):
        out = subprocess.run(
            ["faketime", "-f", f"@{day}", sys.executable, "-c", _DOC_CODE],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "TZ": "UTC"},
            check=False,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        found.append(out.stdout.strip().splitlines()[-1].split())
    assert [day for day, _ in found] == ["2026-11-24", "2026-11-25"], "the clock was not frozen"
    assert found[0][1] == found[1][1], "doc_md changes from one day to the next"


def test_publish_updates_the_edition_asset(dagbag) -> None:
    from airflow.sdk import Asset

    outlets = dagbag.dags["matinale_nightly"].get_task("publish").outlets
    assert outlets == [Asset(name="matinale_edition", uri="x-matinale://edition", group="matinale")]


CONSUMER = """
from airflow.sdk import Asset, dag, task

from matinale.airflow.glue import EDITION_ASSET, edition_asset


@dag(dag_id="after_edition", schedule=[edition_asset()], tags=["test"])
def after_edition():
    @task
    def read():
        return None

    read()


@dag(dag_id="after_edition_by_name", schedule=[Asset.ref(name=EDITION_ASSET)], tags=["test"])
def after_edition_by_name():
    @task
    def read():
        return None

    read()


after_edition()
after_edition_by_name()
"""


def test_another_dag_can_be_scheduled_on_a_published_edition(dagbag, tmp_path: Path) -> None:
    """A consumer DAG parses and serializes with schedule=[the asset], by value or by name."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    (tmp_path / "consumer.py").write_text(CONSUMER, encoding="utf-8")
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    published = dagbag.dags["matinale_nightly"].get_task("publish").outlets[0]
    by_value, by_name = bag.dags["after_edition"], bag.dags["after_edition_by_name"]
    assert list(by_value.timetable.asset_condition.objects) == [published]
    assert [r.name for r in by_name.timetable.asset_condition.objects] == [published.name]
    for consumer in (by_value, by_name):
        assert DagSerialization.to_dict(consumer)["dag"]["dag_id"] == consumer.dag_id


@pytest.mark.parametrize(("value", "alert"), [(None, True), ("on", True), ("off", False)])
def test_deadline_is_set_unless_switched_off(value: str | None, alert: bool) -> None:
    """The publish deadline is always set under the scheduler; off only for dag.test()."""
    code = (
        f"from airflow.dag_processing.dagbag import DagBag\nbag = DagBag(dag_folder={str(DAGS)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "deadline = bag.dags['matinale_nightly'].deadline\n"
        "alerts = deadline if isinstance(deadline, list) else [deadline] if deadline else []\n"
        "print([type(a.reference).__name__ for a in alerts])"
    )
    found = _in_subprocess(code, MATINALE_DEADLINE_ALERT=value)
    assert found == ("['PublishDeadline']" if alert else "[]")


def test_the_dag_runs_every_stage_of_the_night(dagbag) -> None:
    """One task per stage of matinale.night.STAGES (task id = stage name), mapped as the stage says."""
    from matinale.night import STAGES, TASKS

    dag = dagbag.dags["matinale_nightly"]
    for stage in STAGES:
        assert stage.name in dag.task_ids, f"stage {stage.name} has no task"
        assert _graph(dag)[stage.name][1] == stage.mapped, stage.name
    assert set(NIGHTLY_GRAPH) == set(TASKS), "night.TASKS lists every task of the nightly DAG"


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
