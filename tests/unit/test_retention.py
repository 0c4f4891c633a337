"""Retention of per-person files, on the real S3 work store, and of published editions."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from matinale.retention import private_prefixes, purge
from matinale.settings import Settings, load_settings
from matinale.store import S3Store

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 24)
DAY = 86_400


def _settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retention: str, store: S3Store
) -> Settings:
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_PRIVATE_BUCKET", store.bucket)
    # The test's own (empty) bundle bucket, never one another test filled.
    monkeypatch.setenv("MATINALE_BUNDLE_BUCKET", BUNDLE[store.bucket])
    monkeypatch.setenv("MATINALE_INBOX", str(tmp_path / "inbox"))
    path = tmp_path / "campaign.yaml"
    path.write_text(
        (ROOT / "campaign.yaml").read_text(encoding="utf-8") + "\n" + retention, encoding="utf-8"
    )
    monkeypatch.setenv("MATINALE_CAMPAIGN_FILE", str(path))
    return load_settings(path)


def _fill(store: S3Store, inbox: Path) -> None:
    """Three nights of runs (private and public files, delivery files) and three supporter exports."""
    for edition, run in (
        ("2026-09-01", "20260901T000000Z-0001"),
        ("2026-10-24", "20261024T000000Z-0002"),
        ("2026-11-24", "20261124T000000Z-0003"),
    ):
        store.client.put_object(
            Bucket=store.bucket,
            Key=f"delivery/{edition}/{run}/delivery.csv",
            Body=b"email,segment\n",
        )
        store.client.put_object(
            Bucket=store.bucket, Key=f"delivery/{edition}/{run}/delivery.json", Body=b"{}"
        )
        base = f"runs/{edition}/{run}"
        for name in (
            "valid.parquet",
            "quarantine.parquet",
            "contacts.parquet",
            "assignments.parquet",
        ):
            store.put_bytes(f"{base}/private/{name}", b"per-person")
        store.put_bytes(f"{base}/segments.json", b"{}")
        store.put_bytes(f"{base}/bundle/manifest.json", b"{}")
    exports = inbox / "supporters"
    exports.mkdir(parents=True)
    # File ages count from TODAY (noon, Paris), never from the machine's clock.
    now = datetime.combine(
        TODAY, datetime.min.time().replace(hour=12), tzinfo=ZoneInfo("Europe/Paris")
    ).timestamp()
    for name, age_days in (
        ("export-old.csv", 90),
        ("export-last-month.csv", 40),
        ("export-today.csv", 0),
    ):
        path = exports / name
        path.write_text("supporter_id\n")
        os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    (inbox / "suppression").mkdir()
    (inbox / "suppression" / "optouts.txt").write_text("a@example.org\n")


#: private bucket → the bundle bucket of the same test.
BUNDLE: dict[str, str] = {}


@pytest.fixture
def store(s3_server, s3_buckets) -> S3Store:
    BUNDLE[s3_buckets["private"]] = s3_buckets["bundle"]
    return S3Store(s3_server.client(), s3_buckets["private"], "work")


def test_age_rule_keeps_recent_runs_and_the_newest_export(
    store: S3Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = _settings(tmp_path, monkeypatch, "retention:\n  private_outputs_days: 30\n", store)
    _fill(store, settings.inbox)
    caplog.set_level(logging.INFO, logger="matinale.retention")

    dry = purge(store, settings, today=TODAY, dry_run=True, client=store.client)
    assert (
        dry["runs_purged"],
        dry["files_deleted"],
        dry["delivery_files_deleted"],
        dry["inbox_files_deleted"],
    ) == (2, 8, 2, 2)
    assert len(store.list("runs")) == 18, "a dry run deletes nothing"

    report = purge(store, settings, today=TODAY, client=store.client)
    assert report == {**dry, "dry_run": False}
    assert report["rule"] == "age" and report["keep_editions_from"] == "2026-10-25"
    left = store.list("runs")
    assert [k for k in left if "/private/" in k] == [
        f"runs/2026-11-24/20261124T000000Z-0003/private/{n}"
        for n in sorted(
            ("valid.parquet", "quarantine.parquet", "contacts.parquet", "assignments.parquet")
        )
    ]
    assert sum("/private/" not in k for k in left) == 6, (
        "aggregated and bundle files are not per-person: kept"
    )
    assert sorted(p.name for p in (settings.inbox / "supporters").iterdir()) == ["export-today.csv"]
    assert (settings.inbox / "suppression" / "optouts.txt").exists()
    deliveries = sorted(
        o["Key"]
        for o in store.client.list_objects_v2(Bucket=store.bucket, Prefix="delivery/")["Contents"]
    )
    assert [k for k in deliveries if k.endswith(".csv")] == [
        "delivery/2026-11-24/20261124T000000Z-0003/delivery.csv"
    ]
    assert sum(k.endswith(".json") for k in deliveries) == 3, "counts are not per-person: kept"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert (
        "deleted 8 private file(s) in 2 of 3 run(s), 2 delivery file(s) and 2 inbox file(s)"
        in logged
    )
    assert "per-person" not in logged and "export-old" not in logged, "counts only in the log"

    again = purge(store, settings, today=TODAY, client=store.client)
    assert (again["files_deleted"], again["inbox_files_deleted"]) == (0, 0), "idempotent"


def test_campaign_end_rule_deletes_every_per_person_file(
    store: S3Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(
        tmp_path,
        monkeypatch,
        "retention:\n  private_outputs_days: 30\n  campaign_end: 2026-10-01\n  after_end_days: 30\n",
        store,
    )
    _fill(store, settings.inbox)
    before = purge(store, settings, today=date(2026, 10, 30), dry_run=True)
    assert before["rule"] == "age", "the day before the end + delay"
    report = purge(store, settings, today=date(2026, 10, 31), client=store.client)
    assert (
        report["rule"] == "campaign_end"
        and report["runs_purged"] == 3
        and report["files_deleted"] == 12
    )
    assert report["delivery_files_deleted"] == 3
    assert private_prefixes(store) == {}
    assert list((settings.inbox / "supporters").iterdir()) == []
    assert (settings.inbox / "suppression" / "optouts.txt").exists(), "kept unless configured"

    settings = _settings(
        tmp_path,
        monkeypatch,
        "retention:\n  campaign_end: 2026-10-01\n  after_end_days: 0\n  purge_suppression_after_end: true\n",
        store,
    )
    assert purge(store, settings, today=date(2026, 10, 1))["inbox_files_deleted"] == 1
    assert not (settings.inbox / "suppression" / "optouts.txt").exists()


def _pointer(client, bucket: str, key: str, edition: str, run: str, hour: int) -> None:
    body = {
        "edition": edition,
        "run": run,
        "prefix": f"editions/{edition}/{run}/",
        "promoted_at": f"{edition}T{hour:02d}:00:00+00:00",
        "event": "publish",
    }
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())


def test_old_editions_and_never_promoted_runs_leave_the_bundle_bucket(
    store: S3Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from matinale.publish import list_editions, split_pointers

    settings = _settings(
        tmp_path, monkeypatch, "retention:\n  published_editions_days: 100\n", store
    )
    client, bundle = store.client, settings.bundle_bucket
    for edition, run in (("2026-05-01", "old"), ("2026-11-24", "served"), ("2026-11-24", "failed")):
        for name in ("index.html", "manifest.json"):
            client.put_object(Bucket=bundle, Key=f"editions/{edition}/{run}/{name}", Body=b"{}")
    _pointer(client, bundle, "editions/2026-05-01/current.json", "2026-05-01", "old", 1)
    _pointer(client, bundle, "editions/2026-11-24/current.json", "2026-11-24", "served", 2)
    _pointer(client, bundle, "latest.json", "2026-11-24", "served", 2)
    later = datetime.now(UTC) + timedelta(days=2)  # the failed run's objects are a day old
    caplog.set_level(logging.INFO, logger="matinale.retention")

    dry = purge(store, settings, today=TODAY, dry_run=True, client=client, now=later)
    counts = ("editions_deleted", "edition_objects_deleted", "unpromoted_runs_deleted")
    assert [dry[k] for k in counts] == [1, 3, 1] and dry["keep_published_from"] == "2026-08-16"
    assert len(list_editions(client, bundle)) == 3, "a dry run deletes nothing"
    assert (
        purge(store, settings, today=TODAY, dry_run=True, client=client)["unpromoted_runs_deleted"]
        == 0
    ), "a run written less than a day ago may still be publishing"

    report = purge(store, settings, today=TODAY, client=client, now=later)
    assert report == {**dry, "dry_run": False}
    assert [(r["edition"], r["run"], r["status"]) for r in list_editions(client, bundle)] == [
        ("2026-11-24", "served", "latest")
    ]
    assert split_pointers(client, bundle) == [], "the pointers stay valid"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "deleted 1 edition(s) (3 object(s)) and 1 never-promoted run(s) (2 object(s))" in logged

    # The edition latest.json names is kept, however old.
    far = purge(store, settings, today=date(2028, 1, 1), client=client, now=later)
    assert far["editions_deleted"] == 0
    assert [r["run"] for r in list_editions(client, bundle)] == ["served"]
