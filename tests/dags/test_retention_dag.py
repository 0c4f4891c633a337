"""The retention DAG under Airflow (dag.test) against the real S3 work store."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_retention_dag_purges_the_s3_work_store(
    s3_server, s3_buckets, airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from matinale.settings import cached_settings, load_settings
    from matinale.store import S3Store

    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("MATINALE_WORK_STORE", "s3")
    monkeypatch.setenv("MATINALE_PRIVATE_BUCKET", s3_buckets["private"])
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    cached_settings.cache_clear()
    settings = load_settings()
    assert settings.retention.private_outputs_days == 30

    # The DAG reads today's Paris date: runs 60 and 40 days old must go, today's stays.
    today = datetime.now(UTC).astimezone(settings.clocks.campaign_tz).date()
    store = S3Store(s3_server.client(), s3_buckets["private"], "work")
    for age in (60, 40, 0):
        edition = today - timedelta(days=age)
        for name in ("valid.parquet", "contacts.parquet"):
            store.put_bytes(
                f"runs/{edition}/{edition:%Y%m%d}T000000Z-00{age:02d}/private/{name}", b"per-person"
            )
        store.put_bytes(f"runs/{edition}/{edition:%Y%m%d}T000000Z-00{age:02d}/segments.json", b"{}")
        store.client.put_object(
            Bucket=store.bucket,
            Key=f"delivery/{edition}/{edition:%Y%m%d}T000000Z-00{age:02d}/delivery.csv",
            Body=b"email\n",
        )
    exports = settings.inbox / "supporters"
    exports.mkdir(parents=True)
    for name, age in (("old.csv", 45), ("new.csv", 1)):
        (exports / name).write_text("supporter_id\n")
        os.utime(exports / name, (time.time() - age * 86_400,) * 2)
    try:
        bag = DagBag(dag_folder=str(ROOT / "dags"))
        assert not bag.import_errors, bag.import_errors
        run = bag.get_dag("matinale_retention").test()
    finally:
        cached_settings.cache_clear()
    assert run.state == "success"
    private = sorted({k.split("/")[1] for k in store.list("runs") if "/private/" in k})
    assert private == [today.isoformat()]
    assert len([k for k in store.list("runs") if k.endswith("segments.json")]) == 3
    assert [p.name for p in exports.iterdir()] == ["new.csv"]
    deliveries = [
        o["Key"]
        for o in store.client.list_objects_v2(Bucket=store.bucket, Prefix="delivery/")["Contents"]
    ]
    assert [k.split("/")[1] for k in deliveries] == [today.isoformat()]
