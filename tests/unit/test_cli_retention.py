"""``matinale retention [--dry-run]`` (the DAG's purge from a shell) and the split flag of
``matinale editions``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matinale.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _env(monkeypatch: pytest.MonkeyPatch, var: Path, **extra: str) -> None:
    for name in ("AIRFLOW_CONN_AWS_DEFAULT", "AWS_ACCESS_KEY_ID", "MATINALE_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MATINALE_HOME", str(ROOT))
    monkeypatch.setenv("MATINALE_CAMPAIGN_FILE", str(ROOT / "campaign.yaml"))
    monkeypatch.setenv("MATINALE_VAR", str(var))
    monkeypatch.setenv("MATINALE_INBOX", str(var / "inbox"))
    monkeypatch.setenv("MATINALE_WORK_STORE", "local")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)


def _runs(var: Path) -> None:
    for edition in ("2026-09-01", "2026-11-24"):
        private = var / "work" / "runs" / edition / f"{edition}-run" / "private"
        private.mkdir(parents=True)
        (private / "contacts.parquet").write_bytes(b"per-person")


def test_retention_without_s3_purges_the_local_work_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, tmp_path)
    _runs(tmp_path)
    old = tmp_path / "work/runs/2026-09-01/2026-09-01-run/private/contacts.parquet"

    assert main(["retention", "--dry-run", "--today", "2026-11-24"]) == 0
    out = capsys.readouterr().out
    assert "Retention on 2026-11-24 (keeping editions from 2026-10-25) — dry run" in out
    assert "would delete 1 private file(s) in 1 of 2 run(s)" in out
    assert "no S3 client: delivery files and the bundle bucket were not looked at" in out
    assert old.exists()

    assert main(["retention", "--today", "2026-11-24", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["files_deleted"], report["dry_run"]) == (1, False)
    assert not old.exists() and "editions_deleted" not in report
    assert "contacts" not in json.dumps(report), "counts only"


def test_retention_with_an_s3_work_store_and_no_credentials_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, tmp_path, MATINALE_WORK_STORE="s3")
    assert main(["retention", "--dry-run"]) == 2
    assert "matinale retention: no S3 credentials" in capsys.readouterr().err


def test_retention_and_editions_on_s3(
    s3_server, s3_buckets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _env(
        monkeypatch,
        tmp_path,
        **s3_server.env(),
        MATINALE_BUNDLE_BUCKET=s3_buckets["bundle"],
        MATINALE_PRIVATE_BUCKET=s3_buckets["private"],
    )
    _runs(tmp_path)
    client, bundle = s3_server.client(), s3_buckets["bundle"]
    for day, run, hour in (("2026-11-23", "a", 1), ("2026-11-24", "b", 2)):
        client.put_object(Bucket=bundle, Key=f"editions/{day}/{run}/manifest.json", Body=b"{}")
        pointer = {"edition": day, "run": run, "promoted_at": f"{day}T0{hour}:00:00+00:00"}
        client.put_object(
            Bucket=bundle, Key=f"editions/{day}/current.json", Body=json.dumps(pointer).encode()
        )
        if day == "2026-11-23":  # latest.json was not moved to 2026-11-24: a split
            client.put_object(Bucket=bundle, Key="latest.json", Body=json.dumps(pointer).encode())

    assert main(["editions"]) == 1
    out = capsys.readouterr().out
    assert "2026-11-24  b  current  SPLIT" in out and "2026-11-23  a  latest  SPLIT" in out
    assert "SPLIT: editions/2026-11-24/current.json names run b" in out

    assert main(["retention", "--today", "2026-11-24"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1 private file(s) in 1 of 2 run(s), 0 delivery file(s)" in out
    assert "bundle bucket (keeping editions from 2025-10-20): deleted 0 edition(s)" in out
    assert "bundle bucket skipped: the pointers are not consistent" in out

    client.put_object(
        Bucket=bundle,
        Key="latest.json",
        Body=client.get_object(Bucket=bundle, Key="editions/2026-11-24/current.json")[
            "Body"
        ].read(),
    )
    assert main(["editions"]) == 0
    assert "SPLIT" not in capsys.readouterr().out
