from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDITION = date(2026, 11, 24)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata DB in the session's Airflow home."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture
def night_env(
    s3_server, s3_buckets, airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict:
    """Settings pointing at a fresh inbox, work store and buckets, with sample supporters."""
    from matinale.dev.local import fill_inbox
    from matinale.settings import cached_settings, load_settings

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_VAR", str(tmp_path / "var"))
    monkeypatch.setenv("MATINALE_BUNDLE_BUCKET", s3_buckets["bundle"])
    monkeypatch.setenv("MATINALE_PRIVATE_BUCKET", s3_buckets["private"])
    # dag.test() of Airflow 3.3.2 crashes when a run with a DeadlineAlert succeeds; the alert
    # itself is tested in tests/dags/test_nightly_alerts.py through the scheduler's own path.
    monkeypatch.setenv("MATINALE_DEADLINE_ALERT", "off")
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    cached_settings.cache_clear()
    settings = load_settings()
    supporters = fill_inbox(settings, EDITION, rows=3_000, seed=7)
    import pandas as pd

    ids = pd.read_csv(supporters, dtype=str)["supporter_id"].tolist()
    yield {
        "settings": settings,
        "client": s3_server.client(),
        "bundle_bucket": s3_buckets["bundle"],
        "supporter_ids": ids,
        "links_db": f"sqlite:///{tmp_path / 'var' / 'links.db'}",
    }
    cached_settings.cache_clear()


@pytest.fixture
def nightly_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("matinale_nightly")
