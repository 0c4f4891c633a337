"""Every DAG imports cleanly and follows the project's conventions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
HEAVY = ("pandas", "sklearn", "PIL", "pyarrow", "numpy", "boto3", "scipy")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "matinale_nightly" in dagbag.dags


def test_conventions(dagbag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no doc_md"
        assert dag.catchup is False, f"{dag_id} must not catch up"
        assert dag.max_active_runs == 1, f"{dag_id} must run one at a time"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 2, f"{dag_id}.{task.task_id} has retries < 2"


def test_nightly_shape(dagbag) -> None:
    dag = dagbag.dags["matinale_nightly"]
    assert {"prepare", "ingest", "privacy", "segment", "plan", "content", "visuals", "bundle", "publish"} <= set(dag.task_ids)
    assert "bundle" in dag.get_task("publish").upstream_task_ids
    assert {"content", "visuals"} <= dag.get_task("bundle").upstream_task_ids


@pytest.mark.parametrize("dag_file", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_no_heavy_imports_at_parse_time(dag_file: Path) -> None:
    code = (
        "import sys, runpy\n"
        f"runpy.run_path({str(dag_file)!r})\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1:] in ([""], []), f"{dag_file.name} imports {out.stdout.strip()} at parse time"
